"""Authenticated, encrypted links: ZeroMQ CURVE on every socket, keys made by ``semcom keys``.

Each role (transmitter, proxy, receiver) has a key pair: ``<role>.key`` (public, z85, mode 0644)
and ``<role>.key_secret`` (public and secret, z85, mode 0600), in pyzmq's certificate format. A
service needs its own secret file and its peers' public files (``--keys DIR``, or ``SEMCOM_KEYS``).

The side that binds is the CURVE server and admits exactly one client role per socket, checked by
a ZAP handler (pyzmq's ``ThreadAuthenticator``); the side that connects is a client that knows the
server's public key, so a process that binds a port first cannot pose as the service:

    socket               server        admits
    proxy in             proxy         transmitter   (frames, probes, heartbeats, end of stream)
    proxy out            proxy         receiver      (no one else can take a share of the frames)
    feedback             receiver      transmitter   (acks and SNR: no one can read or forge them)
    reference tap        transmitter   receiver      (the originals, for measurement)

``--insecure`` runs without CURVE, explicitly, with a warning in the log.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from shared.cli import CliParser, UsageError, run_cli

log = logging.getLogger(__name__)
ROLES = ("transmitter", "proxy", "receiver")
Role = Literal["transmitter", "proxy", "receiver"]
# socket name -> (the role that binds it: the CURVE server, the one role it admits)
SOCKETS: dict[str, tuple[Role, Role]] = {
    "proxy_in": ("proxy", "transmitter"),
    "proxy_out": ("proxy", "receiver"),
    "feedback": ("receiver", "transmitter"),
    "reference": ("transmitter", "receiver"),
}
KEYS_ENV = "SEMCOM_KEYS"  # default for --keys (compose mounts the folder and sets it)


def make_keys(key_dir: Path, *, force: bool = False) -> list[Path]:
    """A key pair for each role in ``key_dir`` (created 0700); refuses to replace keys unless ``force``."""
    existing = [key_dir / f"{r}.key_secret" for r in ROLES if (key_dir / f"{r}.key_secret").exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} exists: keys are not replaced without --force")
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    umask = os.umask(0o077)  # the secret file is never readable by others, not even between write and chmod
    try:
        for role in ROLES:
            public, secret = zmq.auth.create_certificates(key_dir, role)
            os.chmod(secret, 0o600)
            os.chmod(public, 0o644)  # public keys may be shown to anyone
            written += [Path(public), Path(secret)]
    finally:
        os.umask(umask)
    return written


def _load(key_dir: Path, role: Role, peers: set[Role]) -> tuple[bytes, bytes, dict[Role, bytes]]:
    """-> (own public key, own secret key, peer role -> its public key), z85; UsageError if any is missing or unsafe."""
    secret_file = key_dir / f"{role}.key_secret"
    if not secret_file.is_file():
        raise UsageError(f"no {secret_file} (make the keys with: semcom keys {key_dir})")
    mode = stat.S_IMODE(secret_file.stat().st_mode)
    if mode & 0o077:
        raise UsageError(f"{secret_file} is readable by others (mode {mode:o}): chmod 600 it")
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
        peer_keys = {p: zmq.auth.load_certificate(key_dir / f"{p}.key")[0] for p in sorted(peers)}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the keys in {key_dir}: {exc}") from None
    if secret is None:
        raise UsageError(f"{secret_file} holds no secret key")
    return public, secret, peer_keys


ZAP_BIND_ATTEMPTS = 100  # x 20 ms: how long a new authenticator waits for the last one's ZAP endpoint


class _Admission:
    """The ZAP policy of one process: socket name (the ZAP domain) -> the one client key it admits.
    One authenticator per context, shared by every service in it (tests run all three in one process)."""

    def __init__(self, ctx: zmq.Context):
        self.allowed: dict[str, bytes] = {}
        self.auth = self._start(ctx)

    @staticmethod
    def _start(ctx: zmq.Context) -> ThreadAuthenticator:
        """A started authenticator. A handler stopped a moment ago may still hold the ZAP endpoint: libzmq releases
        an inproc endpoint when its reaper thread gets to the closed socket, so a bind that finds it taken waits
        and tries again (up to 2 s) instead of failing the service."""
        for attempt in range(ZAP_BIND_ATTEMPTS):
            auth = ThreadAuthenticator(ctx, log=logging.getLogger("semcom.zap"))
            try:
                auth.start()
                return auth
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EADDRINUSE or attempt == ZAP_BIND_ATTEMPTS - 1:
                    raise
                if auth.zap_socket is not None:
                    auth.zap_socket.close(linger=0)  # created, never bound
                time.sleep(0.02)
        raise AssertionError("unreachable")

    def admit(self, domain: str, key: bytes) -> None:
        """Socket ``domain`` admits the client with public ``key`` (z85), and no one else."""
        self.allowed[domain] = key
        self.auth.configure_curve_callback(domain, credentials_provider=self)  # pyzmq matches the domain exactly

    def callback(self, domain: str, key: bytes) -> bool:  # the authenticator asks, for every handshake (key: z85)
        ok = self.allowed.get(domain) == key
        if not ok:
            log.warning("refused a connection to %s: its key is not the one admitted", domain or "?")
        return ok


_admissions: dict[int, _Admission] = {}
_admissions_lock = threading.Lock()


@dataclass
class LinkSecurity:
    """How one service secures its sockets: CURVE with its keys, or nothing (``insecure``)."""

    role: Role
    public: bytes | None = None
    secret: bytes | None = None
    peers: dict[Role, bytes] | None = None

    @classmethod
    def from_options(cls, role: Role, key_dir: Path | None, insecure: bool) -> LinkSecurity:
        """The service's ``--keys`` / ``--insecure`` (``SEMCOM_KEYS`` as the default folder)."""
        if key_dir is None and not insecure and os.environ.get(KEYS_ENV):
            key_dir = Path(os.environ[KEYS_ENV])
        if key_dir is not None and insecure:
            raise UsageError("give --keys or --insecure, not both")
        if key_dir is None:
            if not insecure:
                raise UsageError("the links need keys: --keys DIR (made by `semcom keys DIR`), or --insecure to run "
                                 "unauthenticated")
            return cls(role)
        if not zmq.has("curve"):
            raise UsageError("this libzmq was built without CURVE: use --insecure")
        peers = {client for server, client in SOCKETS.values() if server == role}
        peers |= {server for server, client in SOCKETS.values() if client == role}
        public, secret, peer_keys = _load(key_dir, role, peers)
        return cls(role, public, secret, peer_keys)

    @property
    def secure(self) -> bool:
        return self.secret is not None

    def describe(self) -> str:
        return "CURVE, keyed peers only" if self.secure else "INSECURE: any local process may connect, read and inject"

    def apply(self, sock: zmq.Socket, name: str) -> None:
        """Before bind/connect: make ``sock`` the CURVE server or client of link ``name`` (a key of SOCKETS)."""
        if not self.secure:
            return
        server, client = SOCKETS[name]
        sock.curve_secretkey, sock.curve_publickey = self.secret, self.public
        if self.role == server:
            admission = self._admission(sock.context)
            admission.admit(name, self.peers[client])
            sock.zap_domain = name.encode()
            sock.curve_server = True
        elif self.role == client:
            sock.curve_serverkey = self.peers[server]
        else:
            raise ValueError(f"the {self.role} has no part in link {name}")

    @staticmethod
    def _admission(ctx: zmq.Context) -> _Admission:
        with _admissions_lock:
            if id(ctx) not in _admissions:
                _admissions[id(ctx)] = _Admission(ctx)
            return _admissions[id(ctx)]


def stop_authenticators() -> None:
    """Stop every ZAP handler (before a context is terminated: the handler's socket would block it)."""
    with _admissions_lock:
        for admission in _admissions.values():
            admission.auth.stop()
        _admissions.clear()


def main(argv: list[str] | None = None) -> int:
    """``semcom keys DIR``."""
    p = CliParser(prog="semcom keys", description="Make a CURVE key pair for each service (transmitter, proxy, "
                  "receiver) in DIR: <role>.key (public) and <role>.key_secret (mode 0600). Give each service "
                  "--keys DIR; on separate hosts, copy each its own .key_secret and its peers' .key files.")
    p.add_argument("dir", type=Path, help="folder for the keys (made 0700 if new)")
    p.add_argument("--force", action="store_true", help="replace keys already there")
    ns = p.parse_args(argv)

    def body() -> int:
        for path in make_keys(ns.dir, force=ns.force):
            print(path)
        return 0

    return run_cli("semcom keys", body)
