"""One frame's path: encode -> channel -> equalise and decode.

The three services wrap these stages with sockets, and ``semcom eval`` calls
them directly: there is one implementation of each step, not two.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict

import numpy as np
from pydantic import ValidationError

from shared.channel.simulator import ChannelSimulator, Realization, apply_channel
from shared.cli import UsageError
from shared.config import ChannelConfig
from shared.phy.equalize import equalize
from shared.protocol import PROTOCOL_VERSION, Header, Kind, PayloadDescriptor, ProtocolError
from shared.schemes.base import Encoded, Receive, Received, get_scheme


class FrameEncoder:
    """Transmit side of one stream: frame -> header + channel symbols."""

    def __init__(self, scheme: str, params: dict | None = None, stream_id: str = "default"):
        self.spec = get_scheme(scheme)
        self.params = self.spec.params.model_validate(params or {})
        self.transmit = self.spec.transmit(self.params)
        self.stream_id = stream_id

    def warmup(self, frame: np.ndarray) -> None:
        """Pay model loading and code construction before streaming, on a frame of the stream's size."""
        self.transmit.warmup(frame.shape[0], frame.shape[1])

    def encode(self, frame: np.ndarray, seq: int, captured_at: float | None = None) -> tuple[Header, list[np.ndarray], Encoded]:
        """frame (H, W, 3) uint8 -> (header, payload symbols, what the scheme chose). ``captured_at``
        (wall clock) is when the frame was grabbed; by default, now: it waited for nothing."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
        t0 = time.time()
        encoded = self.transmit.encode(frame)
        header = Header(
            version=PROTOCOL_VERSION,
            kind=Kind.FRAME,
            stream_id=self.stream_id,
            seq=seq,
            scheme=self.spec.name,
            scheme_params=self.params.model_dump(mode="json"),
            height=frame.shape[0],
            width=frame.shape[1],
            payloads=[
                PayloadDescriptor(name=p.name, role=p.role, n_symbols=p.symbols.size) for p in encoded.payloads
            ],
            hops={"tx_capture": t0 if captured_at is None else min(captured_at, t0), "tx_start": t0,
                  "tx_encoded": time.time()},
        )
        return header, [p.symbols for p in encoded.payloads], encoded


class ChannelStage:
    """The proxy's physics: draws the frame's channel, applies it, writes the CSI."""

    def __init__(self, config: ChannelConfig):
        self.config = config
        self.sim = ChannelSimulator(config)

    def process(self, header: Header, payloads: list[np.ndarray]) -> tuple[Header, list[np.ndarray], Realization]:
        """Returns the faded payloads; when ``realization.erased`` the frame is lost on air."""
        real = self.sim.realize(header.seq, header.n_symbols)
        out = [] if real.erased else apply_channel(payloads, real)
        header = header.model_copy(update={"channel": real.state(self.config.model)})
        return header, out, real


REFUSAL_MEMORY_S = 10.0  # how long a refused stream is answered from memory


class FrameDecoder:
    """Receive side: equalise with the header's CSI, then the scheme's decoder.

    Keeps one decoder per (stream, scheme, params), so per-stream state (the
    last side information) survives between frames; bounded to ``max_streams``.
    """

    def __init__(self, max_streams: int = 16):
        self.max_streams = max_streams
        self._decoders: OrderedDict[tuple[str, str, str], Receive] = OrderedDict()
        self._refused: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()  # key -> (when, why)
        self.load_seconds: dict[str, float] = {}  # scheme -> its last decoder's build and warm-up time (known names only)

    @staticmethod
    def _key(header: Header) -> tuple[str, str, str]:
        """(stream, scheme, params); the stream only for a scheme whose decoder keeps state between frames:
        the streams of a stateless one share its decoder (and a replica batches them together)."""
        try:
            stateful = get_scheme(header.scheme).receive.stateful
        except ValueError:  # unknown: refused in _decoder
            stateful = True
        return header.stream_id if stateful else "", header.scheme, json.dumps(header.scheme_params, sort_keys=True)

    def _decoder(self, header: Header) -> Receive:
        try:
            spec = get_scheme(header.scheme)
        except ValueError as exc:
            raise ProtocolError("unknown_scheme", str(exc)) from None
        names = {p.name for p in header.payloads}  # checked on every message, cached decoder or not
        if not names <= set(spec.payload_names):
            raise ProtocolError("bad_params", f"{header.scheme} has no payload(s) {sorted(names - set(spec.payload_names))}")
        if header.kind == Kind.FRAME and not set(spec.required_payloads) <= names:
            raise ProtocolError("payload_count", f"a {header.scheme} frame needs payload(s) {sorted(set(spec.required_payloads) - names)}")
        key = self._key(header)
        if key in self._decoders:
            self._decoders.move_to_end(key)
            return self._decoders[key]
        try:
            params = spec.params.model_validate(header.scheme_params, strict=True)  # as the sender dumped them: no coercion
        except ValidationError as exc:
            raise ProtocolError("bad_params", f"{header.scheme}: {exc.errors()[0]['msg']}") from None
        dec = spec.receive(params)
        self._decoders[key] = dec
        if len(self._decoders) > self.max_streams:
            self._decoders.popitem(last=False)
        return dec

    def prepare(self, header: Header) -> None:
        """Build and warm the decoder a stream announces (in its probe) before its first frame.
        A refusal is remembered for REFUSAL_MEMORY_S, so a burst of probes queued behind a slow
        first attempt is answered at once (and weights added later are found after that)."""
        key = self._key(header)
        if not header.scheme or key in self._decoders:
            return
        refused = self._refused.get(key)
        if refused is not None and time.monotonic() - refused[0] < REFUSAL_MEMORY_S:
            raise ProtocolError("model_unavailable", refused[1])
        t0 = time.monotonic()
        dec = self._decoder(header)
        try:
            dec.warmup()
        except UsageError as exc:  # e.g. hub weights this receiver does not have: refuse the stream, keep serving
            self._decoders.pop(key, None)
            self._refused[key] = (time.monotonic(), str(exc))
            while len(self._refused) > self.max_streams:
                self._refused.popitem(last=False)
            raise ProtocolError("model_unavailable", str(exc)) from None
        self.load_seconds[header.scheme] = time.monotonic() - t0

    def decode(self, header: Header, payloads: list[np.ndarray]) -> np.ndarray:
        """-> frame (H, W, 3) uint8. Raises ProtocolError (bad message) or DecodeFailure (lost frame)."""
        return self.reconstruct(header, self.equalised(header, payloads))

    def equalised(self, header: Header, payloads: list[np.ndarray]) -> dict[str, Received]:
        """The receiver's front half: check the frame against its scheme, equalise with the header's CSI
        -> payload name -> Received. Raises ProtocolError."""
        if header.channel is None:
            raise ProtocolError("no_csi", "frame reached the receiver without channel state")
        if header.height == 0 or header.width == 0:
            raise ProtocolError("malformed_header", "frame without an image size")
        self._decoder(header)  # the scheme, its payload set and its parameters, checked before any work
        sizes = [p.size for p in payloads]
        y = np.concatenate(payloads) if payloads else np.zeros(0, np.complex64)  # (N,)
        try:
            x_hat, noise_var = equalize(y, header.channel)  # (N,), (N,)
        except ValueError as exc:
            raise ProtocolError("bad_csi", str(exc)) from None
        cuts = np.cumsum(sizes)[:-1]
        return {desc.name: Received(s, v)
                for desc, s, v in zip(header.payloads, np.split(x_hat, cuts), np.split(noise_var, cuts))}

    def reconstruct(self, header: Header, received: dict[str, Received]) -> np.ndarray:
        """The back half: equalised payloads -> frame (H, W, 3) uint8. Raises ProtocolError or DecodeFailure."""
        result = self.reconstruct_batch([(header, received)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def reconstruct_batch(self, items: list[tuple[Header, dict[str, Received]]]) -> list[np.ndarray | Exception]:
        """Many frames at once (a replica's batch, possibly of several streams): frames that share a decoder
        and a size go through its ``decode_batch`` together. -> per item, in order, its frame or the
        ProtocolError / DecodeFailure it raised."""
        out: list[np.ndarray | Exception | None] = [None] * len(items)
        groups: dict[tuple, tuple[Receive, list[int]]] = {}  # (decoder key, height, width) -> (decoder, item indices)
        for i, (header, _) in enumerate(items):
            try:
                dec = self._decoder(header)
            except ProtocolError as exc:
                out[i] = exc
                continue
            groups.setdefault((self._key(header), header.height, header.width), (dec, []))[1].append(i)
        for (_, height, width), (dec, members) in groups.items():
            try:
                results = dec.decode_batch([items[i][1] for i in members], height, width)
            except UsageError as exc:
                results = [ProtocolError("model_unavailable", str(exc))] * len(members)
            for i, result in zip(members, results):
                out[i] = result
        return out  # type: ignore[return-value]
