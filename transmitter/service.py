"""The transmitter: frames from a source -> scheme encoder -> channel symbols over ZeroMQ.

Flow control: with ``fps == 0`` the source is read as fast as the pipeline
accepts frames (ZeroMQ's high-water mark blocks the send, so nothing is lost);
with ``fps > 0`` the source is live, and a frame that the full pipeline cannot
take is dropped and counted, so a slow receiver never makes the sender's
memory grow. ``window > 0`` also caps the frames in flight (sent, not yet
acknowledged by the receiver): 1 is stop-and-wait, which measures each link
without queueing delay.

Start-up: the transmitter probes the path with its stream's scheme and
parameters; the receiver prepares that decoder, then answers, so the first
frame does not pay for loading models.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import zmq

from shared import feedback, protocol, reference
from shared.config import Endpoints
from shared.pipeline import FrameEncoder
from shared.protocol import PROTOCOL_VERSION, Header, Kind, Limits
from shared.telemetry import Counters
from shared.transport import StopFlag, close_sockets, endpoint, make_socket

log = logging.getLogger("transmitter")
PROBE_INTERVAL_S = 0.2  # how often to knock until the receiver answers through the proxy
RTT_HISTORY = 32  # round trips remembered for the ack timeout
POLL_MS = 50  # longest a blocked send waits before looking at the stop flag again


@dataclass
class TransmitterSettings:
    frames: int = 0  # 0 = until the source ends or Ctrl-C
    fps: float = 0.0  # 0 = flow-controlled; > 0 = live pacing with drops
    wait_ready_s: float = 30.0  # 0 = do not wait for the receiver's answer
    send_reference: bool = False
    hwm: int = 2
    window: int = 0  # frames in flight before waiting for an ack; 0 = no cap (HWM only)
    ack_timeout_s: float = 2.0  # floor of the ack timeout; it also grows to 4x the slowest recent round trip


class TransmitterService:
    def __init__(self, frames: Iterable[np.ndarray], encoder: FrameEncoder, endpoints: Endpoints,
                 settings: TransmitterSettings, stop: StopFlag, limits: Limits = Limits()):
        self.frames, self.encoder, self.settings, self.stop = frames, encoder, settings, stop
        self.counters = Counters()
        self.symbols: list[int] = []
        self.source_bits: list[int] = []
        self.last_feedback: feedback.Feedback | None = None
        self.last_acked = -1  # highest frame seq the receiver acknowledged
        self._last_send_t = 0.0  # monotonic time of the last frame sent
        self._sent_at: dict[int, float] = {}  # seq -> monotonic send time, for round trips
        self._rtts: deque[float] = deque(maxlen=RTT_HISTORY)
        self.ctx = zmq.Context.instance()
        self.out = make_socket(self.ctx, zmq.PUSH, hwm=settings.hwm, limits=limits,
                               connect=endpoint(endpoints.proxy_host, endpoints.proxy_in_port))
        self.fb = make_socket(self.ctx, zmq.SUB, hwm=100, limits=limits, subscribe=True,
                              connect=endpoint(endpoints.receiver_host, endpoints.feedback_port))
        self.ref = None
        if settings.send_reference:
            self.ref = make_socket(self.ctx, zmq.PUB, hwm=settings.hwm + 8, limits=limits,
                                   bind=endpoint(endpoints.bind_host, endpoints.reference_port))

    def close(self) -> None:
        close_sockets((self.out, self.fb, self.ref), flush=not self.stop)

    def _control(self, kind: Kind, seq: int) -> list[bytes]:
        """A header-only control message; it names the stream's scheme so the receiver can prepare."""
        header = Header(version=PROTOCOL_VERSION, kind=kind, seq=seq, stream_id=self.encoder.stream_id,
                        scheme=self.encoder.spec.name, scheme_params=self.encoder.params.model_dump(mode="json"),
                        hops={"tx_sent": time.time()})
        return [protocol.header_bytes(header)]

    def _drain_feedback(self) -> list[feedback.Feedback]:
        got = []
        while self.fb.poll(0):
            try:
                got.append(feedback.unpack(self.fb.recv()))
            except protocol.ProtocolError as exc:
                self.counters[f"feedback_dropped.{exc.reason}"] += 1
        for fb in got:
            if fb.type == "ack" and fb.stream_id == self.encoder.stream_id:
                self.last_acked = max(self.last_acked, fb.seq)
                if fb.snr_db is not None:
                    self.encoder.transmit.on_feedback(fb.snr_db)
                sent = self._sent_at.pop(fb.seq, None)
                if sent is not None:
                    self._rtts.append(time.monotonic() - sent)
                self.last_feedback = fb
        return got

    def _ack_timeout(self) -> float:
        """How long an ack may take before its frame is presumed lost: a slow receiver is not a lost frame."""
        return max(self.settings.ack_timeout_s, 4 * max(self._rtts, default=0.0))

    def _window_open(self, seq: int, wait: bool) -> bool:
        """True when frame ``seq`` may go: fewer than ``window`` frames await their ack,
        or the newest one's ack is overdue (presumed erased, see ``_ack_timeout``). With ``wait``,
        block until then; without, answer at once."""
        window = self.settings.window
        while window and seq - self.last_acked - 1 >= window:
            if self.stop:
                return False
            if time.monotonic() - self._last_send_t > self._ack_timeout():
                self.counters["ack_timeouts"] += 1
                return True
            if not wait:
                return False
            if self.fb.poll(POLL_MS):
                self._drain_feedback()
        return not self.stop

    def _send(self, frames: list, block: bool) -> bool:
        """Send one multipart message; False if it could not go (stopped, or full when not blocking)."""
        while not self.stop:
            try:
                self.out.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return True
            except zmq.Again:
                if not block:
                    return False
                self.out.poll(POLL_MS, zmq.POLLOUT)
        return False

    def wait_ready(self) -> bool:
        """Probe through proxy and receiver until the receiver answers (or time runs out)."""
        deadline = time.monotonic() + self.settings.wait_ready_s
        probe = 0
        while not self.stop and time.monotonic() < deadline:
            self._send(self._control(Kind.PROBE, probe), block=False)
            end = time.monotonic() + PROBE_INTERVAL_S
            while time.monotonic() < end:
                if self.fb.poll(int(1000 * PROBE_INTERVAL_S / 4)) and any(
                    fb.type == "probe_ack" for fb in self._drain_feedback()
                ):
                    return True
            probe += 1
        return False

    def run(self) -> dict:
        s = self.settings
        frames = iter(self.frames)
        first = next(frames, None)
        if first is None:
            log.error("the source delivered no frame")
            return self.stats()
        self.encoder.warmup(first)
        if s.wait_ready_s > 0:
            log.info("probing the path to the receiver ...")
            if not self.wait_ready():
                if not self.stop:
                    log.error("no answer from the receiver through the proxy within %.0f s", s.wait_ready_s)
                    self.counters["not_ready"] += 1
                return self.stats()
            log.info("receiver answered: streaming")
        period = 1.0 / s.fps if s.fps > 0 else 0.0
        next_due = time.monotonic()
        seq = 0
        for frame in itertools.chain([first], frames):
            if self.stop or (s.frames and seq >= s.frames):
                break
            if period:
                next_due += period
            self._drain_feedback()
            if not self._window_open(seq, wait=not period):
                if not self.stop:
                    self.counters["frames_dropped"] += 1
                seq += 1
                continue
            try:
                header, symbols, encoded = self.encoder.encode(frame, seq)
            except ValueError as exc:  # e.g. a symbol budget too small for this frame
                log.error("frame %d not encoded: %s", seq, exc)
                self.counters["encode_failed"] += 1
                seq += 1
                continue
            header.hops["tx_sent"] = time.time()
            if self._send(protocol.encode(header, symbols), block=not period):
                self._last_send_t = time.monotonic()
                self._sent_at[seq] = self._last_send_t
                while len(self._sent_at) > RTT_HISTORY:  # acks of erased frames never come
                    self._sent_at.pop(next(iter(self._sent_at)))
                self.counters["frames_sent"] += 1
                self.symbols.append(header.n_symbols)
                self.source_bits.append(sum(p.bits for p in encoded.payloads))
                if self.ref is not None:
                    try:
                        self.ref.send_multipart(reference.pack(header.stream_id, seq, frame), flags=zmq.NOBLOCK)
                    except zmq.Again:
                        self.counters["reference_dropped"] += 1
            elif not self.stop:
                self.counters["frames_dropped"] += 1
            seq += 1
            if period:
                time.sleep(max(0.0, next_due - time.monotonic()))
        if not period:
            self._drain_in_flight(seq)
        self._send(self._control(Kind.EOS, seq), block=True)
        return self.stats()

    def _drain_in_flight(self, end_seq: int) -> None:
        """Before the end of stream, wait for the frames still in the pipeline to be acknowledged,
        so none is left in a socket buffer when this process exits. A frame whose ack is overdue
        (``_ack_timeout`` after the last progress) is presumed erased, and the wait ends."""
        progress_t, acked = time.monotonic(), self.last_acked
        while not self.stop and self._sent_at and self.last_acked < end_seq - 1:
            if self.fb.poll(POLL_MS):
                self._drain_feedback()
            if self.last_acked != acked:
                progress_t, acked = time.monotonic(), self.last_acked
            elif time.monotonic() - progress_t > self._ack_timeout():
                self.counters["ack_timeouts"] += 1
                return

    def stats(self) -> dict:
        return {
            "counters": dict(self.counters),
            "symbols_per_frame": float(np.mean(self.symbols)) if self.symbols else 0.0,
            "source_bits_per_frame": float(np.mean(self.source_bits)) if self.source_bits else 0.0,
            "last_feedback": self.last_feedback.model_dump() if self.last_feedback else None,
        }
