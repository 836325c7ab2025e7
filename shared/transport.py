"""ZeroMQ sockets with the project's policies, and a clean stop on signals.

* small high-water marks, so a slow receiver pushes back within a few frames;
* LINGER 0, so a stopping service never hangs on unsent frames;
* a maximum message size enforced by libzmq itself (ZMQ_MAXMSGSIZE is per
  frame, so :mod:`shared.protocol` checks the whole message again);
* small kernel socket buffers, so the high-water mark, not megabytes of TCP
  buffering, decides when a slow receiver pushes back;
* stable parts bind, dynamic parts connect.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections import Counter

import numpy as np
import zmq

from shared import protocol
from shared.protocol import Header, Limits, ProtocolError
from shared.security import LinkSecurity

log = logging.getLogger(__name__)
SOCKET_BUFFER_BYTES = 64 * 1024  # kernel buffer per direction (Linux doubles it): well under one 256x256 frame


def endpoint(host: str, port: int) -> str:
    return f"tcp://{host}:{port}"


def make_socket(
    ctx: zmq.Context,
    kind: int,
    *,
    hwm: int,
    limits: Limits,
    bind: str | None = None,
    connect: str | None = None,
    subscribe: bool = False,
    security: LinkSecurity | None = None,
    link: str = "",
) -> zmq.Socket:
    """A socket of ``kind`` (zmq.PUSH, PULL, PUB, SUB) that binds or connects; with ``security``,
    the CURVE server or client of ``link`` (a name in :data:`shared.security.SOCKETS`)."""
    if (bind is None) == (connect is None):
        raise ValueError("give exactly one of bind= and connect=")
    sock = ctx.socket(kind)
    if security is not None:
        security.apply(sock, link)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.MAXMSGSIZE, limits.max_message_bytes)
    sock.setsockopt(zmq.SNDBUF, SOCKET_BUFFER_BYTES)
    sock.setsockopt(zmq.RCVBUF, SOCKET_BUFFER_BYTES)
    if kind == zmq.SUB and subscribe:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    if bind is not None:
        try:
            sock.bind(bind)
        except zmq.ZMQError as exc:
            sock.close()
            raise OSError(f"cannot bind {bind}: {exc}") from None
    else:
        sock.connect(connect)
    return sock


def parse_or_drop(frames: list[zmq.Frame], limits: Limits, counters: Counter, logger: logging.Logger
                  ) -> tuple[Header, list[np.ndarray]] | None:
    """Parse a received message; a bad one is counted under ``dropped.<reason>``, logged, and None."""
    try:
        return protocol.decode([f.buffer for f in frames], limits)
    except ProtocolError as exc:
        counters[f"dropped.{exc.reason}"] += 1
        logger.warning("dropped a message: %s", exc)
        return None


FLUSH_LINGER_MS = 2000  # a service that ends normally gives its last messages (end of stream) this long to leave


def close_sockets(sockets, *, flush: bool) -> None:
    """Close every socket (None entries skipped); ``flush`` lets queued messages out first,
    otherwise LINGER 0 drops them at once (Ctrl-C)."""
    for sock in sockets:
        if sock is not None:
            sock.close(linger=FLUSH_LINGER_MS if flush else 0)


class StopFlag:
    """Set by SIGINT/SIGTERM (or by code); services poll it between messages."""

    def __init__(self, install_signals: bool = True):
        self._event = threading.Event()
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self._event.set()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()
