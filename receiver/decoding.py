"""Where the receiver's frames are decoded: in its own process, or on Ray Serve replicas.

Both backends take an equalised frame and give back a future of its
:class:`~receiver.ray_serve.Decoded`; the receiver keeps the futures of each
stream in arrival order (:class:`InFlight`) and delivers a frame only when it
and every earlier frame of its stream are done, so frames come out in order per
stream however the replicas finish. In process, the future is done at once and
nothing changes from a plain call.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import tempfile
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from receiver.ray_serve import APP_NAME, Decoded, as_decoded, deployment, to_request
from shared.cli import UsageError
from shared.config import RAY_LOOPBACK, RayDecodeConfig
from shared.pipeline import FrameDecoder
from shared.protocol import Header, ProtocolError
from shared.schemes.base import DecodeFailure, Received, get_scheme

log = logging.getLogger("receiver.decoding")
RAY_CURRENT_CLUSTER = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # `ray start` writes its address here
RAY_TOKEN_FILE = Path.home() / ".ray" / "auth_token"  # where `ray start` keeps the cluster's token (Ray >= 2.5x)


class LocalDecoding:
    """Decode in this process, now (the default)."""

    name = "local"
    in_flight = 1  # each frame is done before the next is read

    def __init__(self, decoder: FrameDecoder):
        self.decoder = decoder

    def prepare(self, header: Header) -> None:
        self.decoder.prepare(header)

    def submit(self, header: Header, received: dict[str, Received]) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            result = self.decoder.reconstruct(header, received)
        except (ProtocolError, DecodeFailure) as exc:
            result = exc
        future.set_result(as_decoded(result))
        return future

    def close(self) -> None:
        pass


class RayDecoding:
    """Decode on the ``Decoder`` replicas of a Ray Serve application (deployed, or updated, at start)."""

    name = "ray"

    def __init__(self, cfg: RayDecodeConfig):
        address = cfg.address if cfg.address != "auto" else _this_machines_cluster()
        if address == "local" or address.startswith(("127.", "localhost:")):
            for name, value in RAY_LOOPBACK.items():  # (read when Ray is imported)
                os.environ.setdefault(name, value)
        if address != "local":
            _check_reachable(address)  # Ray itself retries an absent head for minutes
        if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or RAY_TOKEN_FILE.exists()):
            os.environ["RAY_AUTH_MODE"] = "token"  # the cluster's token is here: join with it
        try:
            import ray
            from ray import serve
        except ImportError:
            raise UsageError("--ray needs Ray Serve: pip install 'ray[serve]'") from None
        self.cfg, self.in_flight = cfg, cfg.in_flight
        t0 = time.monotonic()
        try:
            local = {"_node_ip_address": "127.0.0.1", "num_cpus": None} if address == "local" else {}
            ray.init(address=None if address == "local" else address, namespace="semcom",
                     log_to_driver=False, include_dashboard=False, configure_logging=False, **local)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--ray {cfg.address}: no Ray cluster there ({str(exc).splitlines()[0]})") from None
        gpus = cfg.gpus if cfg.gpus >= 0 else (1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0)
        logging.getLogger("ray.serve").setLevel(max(log.getEffectiveLevel(), logging.WARNING))  # its INFO lines: --log-level DEBUG
        serve.start(http_options={"location": "NoServer"})  # the ZeroMQ front is the only way in
        self.handle = serve.run(deployment(cfg, gpus), name=APP_NAME, route_prefix=None)
        self.pool = concurrent.futures.ThreadPoolExecutor(cfg.in_flight, thread_name_prefix="ray-result")
        log.info("decoding on Ray Serve at %s: %d replica(s)%s, %.1f CPU + %.1f GPU each, batches of up to %d (%.0f ms); "
                 "ready in %.1f s", cfg.address, cfg.replicas, f" (autoscaling to {cfg.max_replicas})"
                 if cfg.max_replicas > cfg.replicas else "", cfg.cpus, gpus, cfg.max_batch, cfg.batch_wait_ms,
                 time.monotonic() - t0)

    def _handle_for(self, header: Header):
        """A stateful scheme's frames go to the replica that holds their stream (model multiplexing)."""
        if get_scheme(header.scheme).receive.stateful:
            return self.handle.options(multiplexed_model_id=header.stream_id)
        return self.handle

    def prepare(self, header: Header) -> None:
        """A probe: one replica builds and warms the stream's decoder, or says why it cannot."""
        why = self._handle_for(header).check.remote(header.model_dump(mode="json")).result(timeout_s=self.cfg.timeout_s)
        if why is not None:
            raise ProtocolError("model_unavailable", why.split(": ", 1)[-1])

    def submit(self, header: Header, received: dict[str, Received]) -> concurrent.futures.Future:
        response = self._handle_for(header).decode.remote(to_request(header, received))
        return self.pool.submit(response.result, timeout_s=self.cfg.timeout_s)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _this_machines_cluster() -> str:
    """``--ray auto``: $RAY_ADDRESS, else the cluster `ray start` last started here (Ray's own record of it)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        return RAY_CURRENT_CLUSTER.read_text().strip()
    except OSError:
        raise UsageError("--ray auto: no Ray cluster started on this machine (ray start --head, or --ray local)") from None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """HOST:PORT answers a TCP connection, or UsageError in one line."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except ValueError:
        raise UsageError(f"--ray {address!r}: expected auto, local or HOST:PORT") from None
    except OSError as exc:
        raise UsageError(f"--ray {address}: no Ray cluster there ({exc.strerror or exc})") from None


def decoding_backend(decoder: FrameDecoder, ray: RayDecodeConfig | None) -> LocalDecoding | RayDecoding:
    return RayDecoding(ray) if ray is not None else LocalDecoding(decoder)


@dataclass
class Pending:
    header: Header
    future: concurrent.futures.Future


class InFlight:
    """Frames at the decoder, per stream in arrival order; ``ready()`` yields each frame whose
    predecessors in its stream are all done, so every stream comes out in order."""

    def __init__(self):
        self._streams: OrderedDict[str, deque[Pending]] = OrderedDict()
        self.n = 0

    def add(self, header: Header, future: concurrent.futures.Future) -> None:
        self._streams.setdefault(header.stream_id, deque()).append(Pending(header, future))
        self.n += 1

    def ready(self) -> list[tuple[Header, Decoded | BaseException]]:
        out = []
        for stream_id in list(self._streams):
            queue = self._streams[stream_id]
            while queue and queue[0].future.done():
                item = queue.popleft()
                self.n -= 1
                error = item.future.exception()
                out.append((item.header, error if error is not None else item.future.result()))
            if not queue:
                del self._streams[stream_id]
        return out

    def wait(self, timeout_s: float) -> None:
        """Until the oldest frame of some stream is done, or ``timeout_s``."""
        heads = [queue[0].future for queue in self._streams.values()]
        if heads:
            concurrent.futures.wait(heads, timeout=timeout_s, return_when=concurrent.futures.FIRST_COMPLETED)
