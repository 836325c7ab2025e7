"""The transmitter: frames from a source -> scheme encoder -> channel symbols over ZeroMQ.

Flow control: with ``fps == 0`` the source is read as fast as the pipeline
accepts frames (ZeroMQ's high-water mark blocks the send, so nothing is lost).
With ``fps > 0`` the source is live: a capture thread grabs a frame every
``1 / fps`` s into a one-frame slot (:mod:`transmitter.capture`), and the
newest frame wins: a frame the pipeline had no room for is replaced by the
next one and counted as dropped.

``window > 0`` caps the frames in flight (sent, not yet acknowledged): credit
based flow control, so no hop ever queues more than ``window - 1`` frames. 1 is
stop-and-wait, which measures each link without queueing; 2 (the live
default) lets the transmitter encode the next frame while the receiver decodes
this one. Sequence numbers count frames sent, so they stay contiguous across
drops at the source. A frame whose ack is overdue (several times the slowest
recent round trip, so a slow scheme is not mistaken for a lost frame) is
presumed lost and its credit returned. Live, the next frame is also taken just in
time: while the receiver still decodes one, the transmitter waits until its own
encode would end as the decoder frees (from the decode time each ack reports),
so the frame it sends is fresh and does not wait at the receiver.

Start-up: the transmitter encodes one frame (models loaded, budgets checked),
then probes the path with its stream's scheme and parameters; the receiver
prepares that decoder and answers, or refuses with a one-line reason.

Faults (:mod:`shared.liveness`): when nothing it sent has been answered (ack,
probe answer or heartbeat echo) for the liveness period, the path is down: the
transmitter counts an outage, recreates its sockets, probes until the receiver
answers again and resumes; each outage, and the frames it cost, is in the stats.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import zmq

from shared import feedback, protocol, reference
from shared.cli import StartupFailure, UsageError
from shared.config import Endpoints
from shared.control import resolve_scheme
from shared.liveness import HEARTBEAT_INTERVAL_S, HEARTBEAT_LIVENESS
from shared.pipeline import FrameEncoder
from shared.prometheus import ServiceCollector
from shared.protocol import PROTOCOL_VERSION, Header, Kind, Limits
from shared.security import LinkSecurity
from shared.telemetry import Counters, LinkStats, RollingLatency
from shared.transport import StopFlag, close_sockets, endpoint, make_socket
from transmitter.capture import Captured, LiveCapture

log = logging.getLogger("transmitter")
PROBE_INTERVAL_S = 0.2  # how often to knock until the receiver answers through the proxy
RTT_HISTORY = 32  # round trips remembered for the ack timeout
POLL_MS = 50  # longest a blocked send or a closed window waits before looking at the stop flag again
ACK_TIMEOUT_FACTOR = 3.0  # an ack this many times later than the slowest recent round trip: the frame is lost
ACK_TIMEOUT_FLOOR_S = 0.25  # never presume a frame lost sooner (scheduler hiccups on a busy machine)
EOS_SEND_S = 1.0  # how long the end of stream may wait for room in the socket, even when stopping
LIVE_WINDOW = 2  # the live default: encode the next frame while the receiver decodes this one
PACE_HISTORY = 8  # frames whose encode and decode times set the just-in-time start
PACE_EARLY = 0.1  # aim the encode to finish this share of a decode early: jitter then costs a short wait, not a frame
MAX_OUTAGES = 1000  # outage records kept for the stats (the counter counts them all)
MAX_PENDING_CONTROLS = 4  # control requests waiting for the next frame boundary; a flood keeps the newest
REFERENCE_JOIN_S = 2.0  # --reference: how long the first frame waits for a subscriber on the tap (a SUB retries every 0.1 s)


class StreamRefused(StartupFailure):
    """The receiver answered the probe with a refusal (e.g. a model it does not have)."""


@dataclass
class TransmitterSettings:
    frames: int = 0  # 0 = until the source ends or Ctrl-C / SIGTERM
    fps: float = 0.0  # 0 = flow-controlled; > 0 = live: capture at this rate, newest frame wins
    wait_ready_s: float = 30.0  # 0 = do not wait for the receiver's answer
    send_reference: bool = False
    hwm: int = 2
    window: int = 0  # frames in flight before waiting for an ack; 0 = no cap (HWM only)
    first_ack_timeout_s: float = 30.0  # before any round trip is measured: the first frame may pay for lazy set-up
    latency_every_s: float = 10.0  # log a rolling latency line this often; 0 = never
    latency_window_s: float = 10.0  # ... over the frames of the last this-many seconds


class TransmitterService:
    def __init__(self, frames: Iterable[np.ndarray], encoder: FrameEncoder, endpoints: Endpoints,
                 settings: TransmitterSettings, stop: StopFlag, limits: Limits = Limits(),
                 security: LinkSecurity | None = None):
        self.security = security
        self.frames, self.encoder, self.settings, self.stop, self.limits = frames, encoder, settings, stop, limits
        self.counters = Counters()
        self.links = LinkStats()  # this side's links, for Prometheus
        self.metrics = ServiceCollector("transmitter", self.counters, self.links, self._gauges)
        self.load_seconds: dict[str, float] = {}  # scheme -> its encoder's warm-up time
        self._last_cbr: float | None = None
        self.latency = RollingLatency(logging.getLogger("transmitter.latency"), settings.latency_every_s,
                                      settings.latency_window_s)
        self.symbols_sum, self.source_bits_sum = 0, 0  # running totals over frames_sent: constant memory
        self.last_feedback: feedback.Feedback | None = None
        self.last_acked = -1  # highest frame seq the receiver acknowledged
        self.settled = -1  # highest seq acknowledged or presumed lost: frames above it hold a credit
        self.next_seq = 0  # the seq the next frame sent gets: an ack at or above it acknowledges nothing sent
        self._last_send_t = 0.0  # monotonic time of the last frame sent
        self._sent_at: dict[int, float] = {}  # seq -> monotonic send time, for round trips
        self._rtts: deque[float] = deque(maxlen=RTT_HISTORY)
        self._decode_s: deque[float] = deque(maxlen=PACE_HISTORY)  # the receiver's decode times, from acks
        self._encode_s: deque[float] = deque(maxlen=PACE_HISTORY)  # this side's encode times
        self._last_ack_t = 0.0  # monotonic time of the newest ack: the receiver began its next frame about then
        self._heartbeat_seq = -1  # heartbeats sent (their own numbering)
        self._probes_sent = 0  # probes sent (their own numbering: the answer echoes it)
        self._echoed = -1  # newest heartbeat the receiver echoed
        self._unanswered_since: float | None = None  # monotonic time of the oldest message sent since the last answer
        self._last_out_t = time.monotonic()  # the last message of any kind sent: heartbeats fill the silences
        self.outages: list[dict] = []
        self._controls: deque[protocol.ControlRequest] = deque(maxlen=MAX_PENDING_CONTROLS)  # from the viewer
        self._last_frame: np.ndarray | None = None  # a new scheme warms up on it
        self.ctx = zmq.Context.instance()
        self._endpoints = endpoints
        self.out = self.fb = None
        self._open_path_sockets()
        self.ref = None
        if settings.send_reference:
            # XPUB: a PUB that also hands up its subscriptions, so the first frame can wait for the receiver's
            self.ref = make_socket(self.ctx, zmq.XPUB, hwm=settings.hwm + 8, limits=limits, security=security, link="reference",
                                   bind=endpoint(endpoints.bind_host, endpoints.reference_port))

    def close(self) -> None:
        close_sockets((self.out, self.fb, self.ref), flush=not self.stop)

    def _open_path_sockets(self) -> None:
        """(Re)create the sockets to the proxy and from the receiver; queued messages are dropped."""
        close_sockets((self.out, self.fb), flush=False)
        ep, limits = self._endpoints, self.limits
        self.out = make_socket(self.ctx, zmq.PUSH, hwm=self.settings.hwm, limits=limits, security=self.security,
                               link="proxy_in", connect=endpoint(ep.proxy_host, ep.proxy_in_port))
        self.fb = make_socket(self.ctx, zmq.SUB, hwm=100, limits=limits, subscribe=True, security=self.security,
                              link="feedback",
                              connect=endpoint(ep.receiver_host, ep.feedback_port))

    def _header_only(self, kind: Kind, seq: int, encoder: FrameEncoder | None = None,
                     record: protocol.ControlRecord | None = None) -> list[bytes]:
        """A header-only message; it names the stream's scheme (or ``encoder``'s) so the receiver can prepare."""
        encoder = encoder or self.encoder
        header = Header(version=PROTOCOL_VERSION, kind=kind, seq=seq, stream_id=encoder.stream_id,
                        scheme=encoder.spec.name, scheme_params=encoder.params.model_dump(mode="json"),
                        hops={"tx_sent": time.time()}, control=record)
        return [protocol.header_bytes(header)]

    def _drain_feedback(self) -> list[feedback.Feedback]:
        got = []
        while self.fb.poll(0):
            try:
                got.append(feedback.unpack(self.fb.recv()))
            except protocol.ProtocolError as exc:
                self.counters[f"feedback_dropped.{exc.reason}"] += 1
        for fb in got:
            if fb.type == "heartbeat":
                if fb.seq > self._echoed:  # a heartbeat of ours made it round: the path works
                    self._echoed = fb.seq
                    self._unanswered_since = None
                continue
            if fb.stream_id != self.encoder.stream_id:
                continue
            if fb.type == "control":
                self._controls.append(fb.control)  # applied between two frames, in the main loop
                continue
            if fb.type == "ack" and fb.seq >= self.next_seq:
                self.counters["feedback_dropped.unsent_seq"] += 1  # e.g. a forged 2**63 that would open the window for good
                continue
            if fb.type in ("ack", "probe_ack") and fb.seq < self.next_seq:
                self._unanswered_since = None
            if fb.type == "ack":
                self.last_acked = max(self.last_acked, fb.seq)
                if self.outages and self.outages[-1]["last_acked_before"] < fb.seq < self.outages[-1]["resumed_at_seq"]:
                    self.outages[-1]["acked_late"] += 1  # a frame sent into the outage got through after all
                self.settled = max(self.settled, fb.seq)  # a FIFO link: earlier frames not acked were lost
                if fb.snr_db is not None:
                    self.encoder.transmit.on_feedback(fb.snr_db)
                if fb.decode_ms is not None:
                    self._decode_s.append(fb.decode_ms / 1000.0)
                self._last_ack_t = time.monotonic()
                sent = self._sent_at.pop(fb.seq, None)
                if sent is not None:
                    self._rtts.append(time.monotonic() - sent)
                    self.latency.add_ms({"round_trip": 1000.0 * self._rtts[-1]}, frame=False)
                self.last_feedback = fb
        return got

    def _ack_timeout(self) -> float:
        """How long an ack may take before its frame is presumed lost: a slow receiver is not a lost frame."""
        if not self._rtts:
            return self.settings.first_ack_timeout_s
        return max(ACK_TIMEOUT_FLOOR_S, ACK_TIMEOUT_FACTOR * max(self._rtts))

    def in_flight(self, seq: int) -> int:
        """Frames sent before ``seq`` that still hold a credit (neither acknowledged nor presumed lost)."""
        return seq - self.settled - 1

    def _window_open(self, seq: int) -> bool:
        """Wait until frame ``seq`` may go: fewer than ``window`` frames in flight, or the newest one's
        ack is overdue (``_ack_timeout``), when all in flight are presumed lost. False when stopped."""
        window = self.settings.window
        while window and self.in_flight(seq) >= window:
            if self.stop:
                return False
            if time.monotonic() - self._last_send_t > self._ack_timeout():
                self.counters["ack_timeouts"] += self.in_flight(seq)
                self.settled = seq - 1
                break
            self._poll_feedback(POLL_MS)
        for old in [k for k in self._sent_at if k <= self.settled]:  # acks of lost frames never come
            del self._sent_at[old]
        return not self.stop

    def _just_in_time(self, seq: int) -> None:
        """Live, while the receiver still decodes an earlier frame: wait until encoding frame ``seq``
        now would end just as the decoder frees, so the frame is fresh and does not queue there."""
        if self.in_flight(seq) == 0 or not self._decode_s or not self._encode_s:
            return
        decode, encode = float(np.median(self._decode_s)), float(np.median(self._encode_s))
        start_at = self._last_ack_t + (1 - PACE_EARLY) * decode - encode
        while not self.stop and self.in_flight(seq) > 0:
            left = start_at - time.monotonic()
            if left <= 0:
                return
            self._poll_feedback(max(1, int(1000 * min(left, POLL_MS / 1000))))

    def _send(self, frames: list, block: bool, give_up_s: float | None = None) -> bool:
        """Send one multipart message; False if it could not go (stopped, full when not blocking,
        or still full after ``give_up_s``, which also applies after a stop)."""
        deadline = None if give_up_s is None else time.monotonic() + give_up_s
        while deadline is not None or not self.stop:
            try:
                self.out.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return True
            except zmq.Again:
                if not block or (deadline is not None and time.monotonic() > deadline):
                    return False
                self.out.poll(POLL_MS, zmq.POLLOUT)
        return False

    def _poll_feedback(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for feedback and take it; meanwhile keep the path alive."""
        if self.fb.poll(timeout_ms):
            self._drain_feedback()
        if time.monotonic() - self._last_out_t >= HEARTBEAT_INTERVAL_S:
            self._heartbeat_seq += 1
            if self._send(self._header_only(Kind.HEARTBEAT, self._heartbeat_seq), block=False):
                self._sent_something()

    def _sent_something(self) -> None:
        self._last_out_t = time.monotonic()
        if self._unanswered_since is None:
            self._unanswered_since = self._last_out_t

    def path_down(self) -> bool:
        """Nothing sent has been answered for the liveness period (longer if the ack timeout is:
        a slow decoder is not a dead path)."""
        limit = max(HEARTBEAT_LIVENESS * HEARTBEAT_INTERVAL_S, self._ack_timeout())
        return self._unanswered_since is not None and time.monotonic() - self._unanswered_since > limit

    def _recover(self) -> None:
        """The path is down: frames in flight are presumed lost, the sockets are made anew, and the
        receiver is probed until it answers (it may have restarted and need to load its models)."""
        silent_s = time.monotonic() - self._unanswered_since
        started = time.monotonic()
        self.counters["outages"] += 1
        log.warning("no answer through the proxy for %.1f s: path down, re-probing", silent_s)
        # in the record from the start: a frame queued in the proxy may reach a restarted receiver and be
        # acknowledged while this side still probes (no frame is sent meanwhile, so resumed_at_seq is final)
        record = {"at": time.time() - silent_s, "last_acked_before": self.last_acked, "acked_late": 0,
                  "resumed_at_seq": self.next_seq, "stale_before": self.counters["frames_dropped.stale"],
                  "duration_s": silent_s}
        self.outages.append(record)
        del self.outages[:-MAX_OUTAGES]
        self.settled = self.next_seq - 1  # every credit back: those frames are presumed lost
        self._open_path_sockets()
        self.wait_ready(forever=True)
        record.update(duration_s=silent_s + time.monotonic() - started, stale_after=self.counters["frames_dropped.stale"])
        if self.stop:
            return
        self._unanswered_since = None
        log.warning("the receiver answers again after %.1f s: streaming", record["duration_s"])

    def wait_ready(self, forever: bool = False, encoder: FrameEncoder | None = None) -> bool:
        """Probe through proxy and receiver until the receiver answers (or ``wait_ready_s`` runs out;
        ``forever``: until stopped). Raises StreamRefused when the receiver will not serve this stream.
        With ``encoder``: the stream as that encoder would send it, and only answers to its own probes count."""
        deadline = None if forever else time.monotonic() + self.settings.wait_ready_s
        first = 0 if encoder is None else self._probes_sent  # an earlier probe's answer is not about this scheme
        while not self.stop and (deadline is None or time.monotonic() < deadline):
            self._probe(encoder)
            end = time.monotonic() + PROBE_INTERVAL_S
            while time.monotonic() < end:
                if not self.fb.poll(int(1000 * PROBE_INTERVAL_S / 4)):
                    continue
                for fb in self._drain_feedback():
                    if fb.stream_id != self.encoder.stream_id or fb.seq < first:
                        continue
                    if fb.type == "refused":
                        raise StreamRefused(f"the receiver refused stream {fb.stream_id!r}: {fb.reason}")
                    if fb.type == "probe_ack":
                        return True
        return False

    def _await_reference_subscriber(self) -> None:
        """With the measurement tap on, wait (at most ``REFERENCE_JOIN_S``) until a receiver has subscribed to it.

        The tap is PUB/SUB, and ZeroMQ drops what is published before a subscription has arrived (its "slow
        joiner"): without this wait, frame 0's original was often gone and the demo scored 11 frames of 12."""
        if self.ref is None:
            return
        deadline = time.monotonic() + REFERENCE_JOIN_S
        while not self.stop and time.monotonic() < deadline:
            if self.ref.poll(POLL_MS) and self.ref.recv()[:1] == b"\x01":  # b"\x01" + topic: a subscription
                return
        if not self.stop:
            log.warning("no receiver subscribed to the reference tap within %.0f s: frames sent before one does "
                        "carry no PSNR", REFERENCE_JOIN_S)

    def _probe(self, encoder: FrameEncoder | None = None) -> None:
        self._send(self._header_only(Kind.PROBE, self._probes_sent, encoder), block=False)
        self._probes_sent += 1

    def _frames(self, first: np.ndarray, rest: Iterator[np.ndarray]) -> tuple[LiveCapture | None, Callable[[], Captured | None]]:
        """What the main loop sends from, as ``take() -> Captured | None`` (None: the source has ended).
        Live: the newest captured frame, taken once the window is open, so it is as fresh as it can be.
        Flow-controlled: every source frame in turn (``at`` None: it waited for nothing)."""
        s = self.settings
        if s.fps > 0:
            capture = LiveCapture(rest, s.fps, self.counters, limit=s.frames, first=first).start()

            def newest() -> Captured | None:
                while not capture.ended and not self.stop:
                    item = capture.take(POLL_MS / 1000)
                    if item is not None:
                        return item
                    self._poll_feedback(0)
                return None

            return capture, newest
        every = itertools.islice(itertools.chain([first], rest), s.frames or None)
        captured = (Captured(i, None, f) for i, f in enumerate(every))
        return None, lambda: next(captured, None)

    def run(self) -> dict:
        s = self.settings
        rest = iter(self.frames)
        first = next(rest, None)
        if first is None:
            raise UsageError("the source delivered no frame")
        if first.shape[0] * first.shape[1] > self.limits.max_frame_pixels:
            raise UsageError(f"{first.shape[1]}x{first.shape[0]} frames are over --max-pixels "
                             f"{self.limits.max_frame_pixels}: the proxy and receiver would drop every one")
        if s.wait_ready_s > 0:  # the receiver prepares its decoder while this side warms up
            self._probe()
        try:
            self._warm(self.encoder, first)
        except ValueError as exc:  # e.g. a symbol budget too small for this frame size
            raise UsageError(f"scheme {self.encoder.spec.name}: {exc}") from None
        if s.wait_ready_s > 0:
            log.info("probing the path to the receiver ...")
            if not self.wait_ready():
                if self.stop:
                    return self.stats()
                raise StartupFailure(f"no answer from the receiver through the proxy within {s.wait_ready_s:.0f} s")
            log.info("receiver answered: streaming")
        self._await_reference_subscriber()
        capture, take = self._frames(first, rest)
        seq = 0
        try:
            while not self.stop:
                self._drain_feedback()
                self.latency.tick()
                if self.path_down():
                    self._recover()
                    continue
                if self._controls:
                    self._apply_control(self._controls.popleft(), seq)
                    continue
                if not self._window_open(seq):
                    break  # stopped
                if capture is not None:
                    self._just_in_time(seq)
                item = take()
                if item is None:
                    break  # the source has ended
                if self._send_frame(item, seq, live=capture is not None):
                    seq += 1
                    self.next_seq = seq
        finally:
            if capture is not None:
                capture.stop()
        if capture is None:
            self._drain_in_flight(seq)
        if not self._send(self._header_only(Kind.EOS, seq), block=True, give_up_s=EOS_SEND_S):
            log.warning("the end of stream could not be sent (the proxy does not take messages)")
        acks_due = self.counters["frames_sent"] > (s.window if capture is not None else 0)  # live: the last may be in flight
        if s.wait_ready_s > 0 and acks_due and self.last_acked < 0 and not self.stop:
            raise StartupFailure(f"the receiver acknowledged none of the {self.counters['frames_sent']} frames sent: "
                                 "each was lost or dropped on the way (see the proxy's and the receiver's logs)")
        return self.stats()

    def _apply_control(self, request: protocol.ControlRequest, seq: int) -> None:
        """Between two frames: switch to the scheme a request asks for once the receiver has prepared it
        (its probe answered), or keep the current one and say why; then tell the proxy and the receiver,
        in band, before frame ``seq`` (the proxy applies the channel part from then on)."""
        reason = None
        try:
            if request.changes_scheme:
                name, params = resolve_scheme(self.encoder.spec.name, self.encoder.params.model_dump(mode="json"), request)
                encoder = FrameEncoder(name, params, self.encoder.stream_id)
                if self._last_frame is not None:
                    self._warm(encoder, self._last_frame)
                if not self.wait_ready(encoder=encoder):
                    raise ValueError(f"no answer from the receiver within {self.settings.wait_ready_s:.0f} s")
                self.encoder = encoder
        except StreamRefused as exc:
            reason = str(exc)
        except (ValueError, UsageError) as exc:  # a parameter the scheme refuses, weights this side lacks
            reason = f"the transmitter refused it: {exc}"
        record = protocol.ControlRecord(**request.model_dump(), applied=reason is None,
                                        reason=None if reason is None else feedback.one_line(reason))
        self.counters["controls_applied" if record.applied else "controls_refused"] += 1
        (log.info if record.applied else log.warning)("control %d %s", request.id,
                                                      f"applied: now {self.encoder.spec.name}" if record.applied else f"refused: {reason}")
        if not self._send(self._header_only(Kind.CONTROL, seq, record=record), block=True, give_up_s=EOS_SEND_S):
            log.warning("control %d: the record could not be sent (the proxy does not take messages)", request.id)

    def _send_frame(self, item: Captured, seq: int, live: bool) -> bool:
        """Encode and send one frame as ``seq``; False (counted) when it was not sent."""
        try:
            header, symbols, encoded = self.encoder.encode(item.frame, seq, captured_at=item.at)
        except ValueError as exc:  # e.g. a symbol budget too small for this frame
            log.error("frame %d not encoded: %s", item.index, exc)
            self.counters["encode_failed"] += 1
            return False
        header.hops["tx_sent"] = time.time()
        if not self._send(protocol.encode(header, symbols), block=not live):
            if not self.stop:
                self.counters["frames_dropped.full"] += 1
            return False
        self._last_send_t = time.monotonic()
        self._last_frame = item.frame
        self._sent_something()
        self._sent_at[seq] = self._last_send_t
        while len(self._sent_at) > RTT_HISTORY:  # bounded, whatever the acks do
            self._sent_at.pop(next(iter(self._sent_at)))
        self.counters["frames_sent"] += 1
        self._encode_s.append(header.hops["tx_encoded"] - header.hops["tx_start"])
        self.latency.add(header.hops)
        self.links.add(header.hops)
        self.symbols_sum += header.n_symbols
        self.counters["symbols_sent"] += header.n_symbols
        self._last_cbr = header.n_symbols / (header.height * header.width * 3)
        self.source_bits_sum += sum(p.bits for p in encoded.payloads)
        if self.ref is not None:
            try:
                self.ref.send_multipart(reference.pack(header.stream_id, seq, item.frame), flags=zmq.NOBLOCK)
            except zmq.Again:
                self.counters["reference_dropped"] += 1
        return True

    def _drain_in_flight(self, end_seq: int) -> None:
        """Before the end of stream, wait for the frames still in the pipeline to be acknowledged,
        so none is left in a socket buffer when this process exits. A frame whose ack is overdue
        (``_ack_timeout`` after the last progress) is presumed lost, and the wait ends."""
        progress_t, acked = time.monotonic(), self.last_acked
        while not self.stop and self._sent_at and self.last_acked < end_seq - 1:
            self._poll_feedback(POLL_MS)
            if self.last_acked != acked:
                progress_t, acked = time.monotonic(), self.last_acked
            elif time.monotonic() - progress_t > self._ack_timeout():
                self.counters["ack_timeouts"] += 1
                return

    def _gauges(self):
        """The transmitter's gauges for Prometheus: the newest frame's CBR, the SNR the receiver reported,
        each scheme's warm-up time."""
        scheme = {"scheme": self.encoder.spec.name}
        if self._last_cbr is not None:
            yield "semcom_cbr", "channel uses per pixel value of the newest frame sent", scheme, self._last_cbr
        if self.last_feedback is not None and self.last_feedback.snr_db is not None:
            yield "semcom_snr_db", "channel SNR the receiver reported for the newest acknowledged frame, dB", scheme, \
                self.last_feedback.snr_db
        for name, seconds in self.load_seconds.items():
            yield "semcom_model_load_seconds", "time to build and warm a scheme's encoder", {"scheme": name}, seconds

    def _warm(self, encoder: FrameEncoder, frame: np.ndarray) -> None:
        t0 = time.monotonic()
        encoder.warmup(frame)
        self.load_seconds[encoder.spec.name] = time.monotonic() - t0

    def stats(self) -> dict:
        dropped = sum(v for k, v in self.counters.items() if k.startswith("frames_dropped."))
        sent = self.counters["frames_sent"]
        return {
            "counters": dict(self.counters),
            "frames_dropped": dropped,
            "ack_timeout_s": self._ack_timeout(),
            "symbols_per_frame": self.symbols_sum / sent if sent else 0.0,
            "source_bits_per_frame": self.source_bits_sum / sent if sent else 0.0,
            "last_feedback": self.last_feedback.model_dump() if self.last_feedback else None,
            "outages": [self._outage_summary(o) for o in self.outages],
        }

    def _outage_summary(self, o: dict) -> dict:
        """One outage: when it began (wall clock), how long until the receiver answered again, the frames
        sent into it that were never acknowledged, and (live) the frames not sent while it lasted."""
        sent_into = o["resumed_at_seq"] - o["last_acked_before"] - 1
        return {"at": o["at"], "duration_s": round(o["duration_s"], 3), "frames_lost": sent_into - o["acked_late"],
                "frames_skipped": o.get("stale_after", self.counters["frames_dropped.stale"]) - o["stale_before"]}
