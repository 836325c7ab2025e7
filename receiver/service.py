"""The receiver: channel symbols -> equalise -> scheme decoder -> frames.

A frame that cannot be decoded (a failed CRC, say) is counted and the last good
frame is shown in its place, as a video player would. Every bad message is
dropped with a log line and a counter, and the next one is served. A probe for
a stream this receiver cannot serve (a model it lacks) is answered with a
refusal and its one-line reason.

A reader thread takes messages off the socket as they arrive and stamps
``rx_recv``; the decoder stamps ``rx_start`` when it begins, so the time a
frame waits for a busy decoder is measured (``rx_queue``), not hidden in the
network link. The reader's queue is bounded (``hwm``): back-pressure still
reaches the proxy. The reader also keeps the link alive (:mod:`shared.liveness`):
it answers the transmitter's heartbeats every interval, even while the decoder
is busy, and recreates its input socket when upstream has been silent too long.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq
from prometheus_client import generate_latest

from receiver.decoding import InFlight, decoding_backend
from receiver.recorder import VideoRecorder
from receiver.sink import FrameSink, UnsafePath
from receiver.viewer import LiveView, ViewerServer, build_app
from shared import feedback
from shared.config import Endpoints, RayDecodeConfig
from shared.liveness import HEARTBEAT_INTERVAL_S, HEARTBEAT_LIVENESS, Silence
from shared.pipeline import FrameDecoder
from shared.prometheus import ServiceCollector, service_registry
from shared.protocol import ControlRequest, Header, Kind, Limits, ProtocolError
from shared.reference import ReferenceStore
from shared.schemes.base import scheme_parameters
from shared.security import LinkSecurity
from shared.telemetry import Counters, FrameTrace, LatencyHistogram, LinkStats, RollingLatency
from shared.transport import StopFlag, close_sockets, endpoint, make_socket, parse_or_drop

log = logging.getLogger("receiver")
TRACE_FRAMES = 2000  # the per-frame trace keeps the last this-many frames (~120 bytes each); the totals cover all
IDLE_POLL_MS = 100  # how often an idle receiver looks at its stop flag
PSNR_CAP_DB = 100.0  # identical frames: report a finite ceiling, not infinity
CONTROL_RECORDS = 16  # control outcomes kept for the viewer
VIEWER_SAMPLE_S = 1.0  # the viewer's latency chart: one point a second
IN_FLIGHT_POLL_MS = 1  # with frames at the decoder (Ray), how often results are looked for
FLUSH_S = 30.0  # at an end of stream, how long frames still at the decoder are waited for
STREAM_RECORDS = 64  # per-stream runs kept for the report (LRU)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 images in dB, capped at PSNR_CAP_DB."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10.0 * np.log10(255.0**2 / mse))


@dataclass
class ReceiverSettings:
    out_dir: Path | None = None  # write every shown frame as PNG
    exit_on_eos: bool = False  # stop at the end of stream (the demo) ...
    eos_streams: int = 1  # ... once this many streams have ended (semcom demo --streams N)
    ray: RayDecodeConfig | None = None  # decode on Ray Serve replicas (receiver.ray_serve); None = in this process
    idle_timeout_s: float = 0.0  # stop after this long without a message; 0 = never
    use_reference: bool = False
    hwm: int = 2
    latency_every_s: float = 10.0  # log a rolling latency line this often; 0 = never
    latency_window_s: float = 10.0  # ... over the frames of the last this-many seconds
    viewer: tuple[str, int] | None = None  # serve the live viewer (receiver.viewer) here; None = no viewer
    record: Path | None = None  # write the reconstruction to this video file
    record_side_by_side: bool = False  # ... as original | reconstruction
    record_fps: float = 10.0  # the video's frame rate (the receiver does not know the camera's)


class ReceiverService:
    def __init__(self, endpoints: Endpoints, settings: ReceiverSettings, stop: StopFlag, limits: Limits = Limits(),
                 security: LinkSecurity | None = None):
        self.settings, self.stop, self.limits, self.security = settings, stop, limits, security
        self.decoder = FrameDecoder()
        self.counters = Counters()
        self.links = LinkStats()
        self.latency = RollingLatency(logging.getLogger("receiver.latency"), settings.latency_every_s,
                                      settings.latency_window_s)
        # running totals, not per-frame lists: a stream of any length holds constant memory
        self.psnr_sum, self.psnr_n = 0.0, 0
        self.symbols_sum, self.frames_n = 0, 0
        self.largest = (0, 0)  # the largest frame size seen (height, width)
        self.trace = FrameTrace(TRACE_FRAMES)  # per frame: seq, SNR, symbols, decoded, PSNR, links
        self.last_good: OrderedDict[str, np.ndarray] = OrderedDict()  # per stream, bounded like the decoders
        self.refs = ReferenceStore()
        self.controls: deque[dict] = deque(maxlen=CONTROL_RECORDS)  # what came of the last control requests
        self.ctx = zmq.Context.instance()
        self._upstream = endpoint(endpoints.proxy_host, endpoints.proxy_out_port)
        self.inp = self._connect_input()
        self._fb_lock = threading.Lock()  # the feedback socket is shared by the decoder (acks) and the reader (heartbeats)
        self._heartbeat_seq = -1  # newest transmitter heartbeat heard: echoed, so the transmitter knows the path works
        self.fb = make_socket(self.ctx, zmq.PUB, hwm=100, limits=limits, security=security, link="feedback",
                              bind=endpoint(endpoints.bind_host, endpoints.feedback_port))
        self.ref = None
        if settings.use_reference:
            self.ref = make_socket(self.ctx, zmq.SUB, hwm=settings.hwm + 8, limits=limits, subscribe=True,
                                   security=security, link="reference",
                                   connect=endpoint(endpoints.transmitter_host, endpoints.reference_port))
            for port in endpoints.extra_reference_ports:  # one SUB reads every transmitter's tap
                self.ref.connect(endpoint(endpoints.transmitter_host, port))
        self.sink = FrameSink(settings.out_dir) if settings.out_dir else None
        self.recorder = (VideoRecorder(settings.record, settings.record_fps, settings.record_side_by_side)
                         if settings.record else None)
        self.metrics = ServiceCollector("receiver", self.counters, self.links, self._gauges)
        self.view, self.web = None, None
        if settings.viewer:
            self.view = LiveView()
            app = build_app(self.view, self.request_control, lambda: generate_latest(self.registry), scheme_parameters())
            self.web = ViewerServer(app, self.view, *settings.viewer)  # binds now: a port in use fails the start
        self.registry = service_registry(self.metrics)
        self._next_sample = 0.0  # monotonic time of the viewer's next latency sample
        self._last_stream: dict = {}  # the newest frame's facts (gauges, viewer)
        self._runs: OrderedDict[str, dict] = OrderedDict()  # per stream: its current transmitter run (bounded)
        self._ended: set[str] = set()  # streams whose end of stream has come (bounded by eos_streams' use)
        self.decoding = decoding_backend(self.decoder, settings.ray)  # in process, or on Ray Serve
        self.in_flight = InFlight()  # frames at the decoder, delivered in order per stream
        self.decoded_by: Counter[str] = Counter()  # frames per decoding process (Ray: per replica; a few names)
        self.batch_frames = 0  # sum over frames of the batch each was decoded in (mean batch = this / frames)
        self._inbox: queue.Queue[tuple[float, list[zmq.Frame]]] = queue.Queue(maxsize=max(1, settings.hwm))
        self._reading = threading.Event()
        self._reader = threading.Thread(target=self._read, name="reader", daemon=True)

    def close(self) -> None:
        if self.web is not None:
            self.web.close()
        if self.recorder is not None:
            self.recorder.close()
        self.decoding.close()
        self._reading.clear()
        if self._reader.is_alive():
            self._reader.join(timeout=2.0)
        close_sockets((self.inp, self.fb, self.ref), flush=not self.stop)

    def _connect_input(self) -> zmq.Socket:
        return make_socket(self.ctx, zmq.PULL, hwm=self.settings.hwm, limits=self.limits, security=self.security,
                           link="proxy_out", connect=self._upstream)

    def _read(self) -> None:
        """The reader thread (the only user of ``inp``): arrival time + message into the bounded inbox;
        heartbeats to the transmitter; a fresh input socket after a silence (see shared.liveness)."""
        upstream, next_beat = Silence(), 0.0
        while self._reading.is_set():
            next_beat = self._heartbeat_due(next_beat)
            if upstream.expired():
                self._reconnect_input()
                upstream.heard()
            if not self.inp.poll(IDLE_POLL_MS):
                continue
            item = (time.time(), self.inp.recv_multipart(copy=False))
            while self._reading.is_set():
                try:
                    self._inbox.put(item, timeout=IDLE_POLL_MS / 1000)
                    break
                except queue.Full:
                    next_beat = self._heartbeat_due(next_beat)  # a long decode must not look like a dead receiver
            upstream.heard()  # (after the wait: waiting for the decoder is not silence from upstream)

    def _heartbeat_due(self, due: float) -> float:
        """Send the heartbeat if ``due`` (monotonic) has come; returns when the next one is due."""
        if time.monotonic() < due:
            return due
        self._send_feedback(feedback.Feedback(type="heartbeat", seq=self._heartbeat_seq))
        return time.monotonic() + HEARTBEAT_INTERVAL_S

    def _reconnect_input(self) -> None:
        """Upstream has been silent for the liveness period: a new connection to the proxy (libzmq
        gives up on one it closed for a protocol error, e.g. an oversized message)."""
        self.counters["input_reconnects"] += 1
        (log.info if self.counters["input_reconnects"] == 1 else log.debug)(
            "nothing from upstream for %.0f s: reconnecting to %s", HEARTBEAT_LIVENESS * HEARTBEAT_INTERVAL_S,
            self._upstream)
        self.inp.close(linger=0)
        self.inp = self._connect_input()

    def _keep_last_good(self, stream_id: str, frame: np.ndarray) -> None:
        self.last_good[stream_id] = frame
        self.last_good.move_to_end(stream_id)
        while len(self.last_good) > self.decoder.max_streams:  # a peer inventing stream ids must not grow this
            self.last_good.popitem(last=False)

    def _record_control(self, header: Header) -> None:
        """What came of a control request: kept for the viewer, counted, logged."""
        record = header.control
        self.controls.append({"at": time.time(), "stream_id": header.stream_id, "before_seq": header.seq,
                              **record.model_dump(mode="json")})
        self.counters["controls_applied" if record.applied else "controls_refused"] += 1
        if self.view is not None:
            self.view.set_controls(list(self.controls))
        (log.info if record.applied else log.warning)("control %d on stream %r: %s", record.id, header.stream_id,
                                                      "applied" if record.applied else record.reason)

    def request_control(self, stream_id: str, request: ControlRequest) -> None:
        """Send a viewer's control request to the transmitter of ``stream_id`` (thread-safe)."""
        self._send_feedback(feedback.Feedback(type="control", stream_id=stream_id, seq=-1, control=request))

    def _send_feedback(self, fb: feedback.Feedback) -> None:
        with self._fb_lock:
            try:
                self.fb.send(feedback.pack(fb), flags=zmq.NOBLOCK)
            except zmq.Again:
                self.counters["feedback_dropped"] += 1

    def _drain_references(self) -> None:
        while self.ref is not None and self.ref.poll(0):
            if not self.refs.add(self.ref.recv_multipart()):
                self.counters["reference_malformed"] += 1

    def handle(self, frames: list[zmq.Frame], t_recv: float | None = None) -> bool:
        """Serve one message (arrived at ``t_recv``, default now); returns False at an end of stream
        that should stop the service."""
        t_recv = time.time() if t_recv is None else t_recv
        message = parse_or_drop(frames, self.limits, self.counters, log)
        if message is None:
            return True
        header, payloads = message
        if header.kind == Kind.PROBE:
            try:
                self.decoding.prepare(header)
            except ProtocolError as exc:
                self.counters[f"refused.{exc.reason}"] += 1
                if self.counters[f"refused.{exc.reason}"] == 1:  # the transmitter probes again: say it once
                    log.warning("refused stream %r: %s", header.stream_id, exc)
                self._send_feedback(feedback.refusal(header.stream_id, header.seq, str(exc)))
                return True
            self._send_feedback(feedback.Feedback(type="probe_ack", stream_id=header.stream_id, seq=header.seq))
            return True
        if header.kind == Kind.HEARTBEAT:
            self._heartbeat_seq = max(self._heartbeat_seq, header.seq)
            return True
        if header.kind == Kind.CONTROL:
            self._record_control(header)
            return True
        if header.kind == Kind.EOS:
            log.info("end of stream %r after %d frames", header.stream_id, header.seq)
            self._flush(FLUSH_S)
            if len(self._ended) < self.settings.eos_streams:
                self._ended.add(header.stream_id)
            return not (self.settings.exit_on_eos and len(self._ended) >= self.settings.eos_streams)
        header.hops["rx_recv"] = t_recv
        header.hops["rx_start"] = time.time()
        try:
            received = self.decoder.equalised(header, payloads)
        except ProtocolError as exc:
            self._drop(header, exc.reason, str(exc))
            return True
        header.hops["rx_dispatched"] = time.time()
        self.in_flight.add(header, self.decoding.submit(header, received))
        self._deliver_ready()
        return True

    def _drop(self, header: Header, reason: str, why: str) -> None:
        self.counters[f"dropped.{reason}"] += 1
        log.warning("dropped frame %d: %s", header.seq, why)

    def _deliver_ready(self) -> None:
        """Every decoded frame whose stream has nothing older still at the decoder, in order."""
        for header, result in self.in_flight.ready():
            if isinstance(result, BaseException):  # the decoder never answered (a replica died, a timeout)
                self.counters["frames_lost_decoder"] += 1
                log.warning("frame %d of stream %r lost at the decoder: %s", header.seq, header.stream_id,
                            (str(result).splitlines() or [type(result).__name__])[0])
                self._deliver(header, None)
            elif result.refused is not None:
                self._drop(header, *result.refused)
            else:
                header.hops.update(result.hops or {})
                self.decoded_by[result.replica] += 1
                self.batch_frames += result.batch
                if result.failure is not None:
                    self.counters["frames_decode_failed"] += 1
                    log.info("frame %d lost (%s): showing the last good frame", header.seq, result.failure)
                self._deliver(header, result.frame)

    def _flush(self, timeout_s: float) -> None:
        """Deliver what is still at the decoder (an end of stream, a stop), waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight.n and time.monotonic() < deadline:
            self.in_flight.wait(max(0.0, deadline - time.monotonic()))
            self._deliver_ready()

    def _deliver(self, header: Header, frame: np.ndarray | None) -> None:
        """One frame out (None: lost; the last good one is shown in its place): acknowledged, measured, written."""
        ok = frame is not None
        if ok:
            self._keep_last_good(header.stream_id, frame)
        else:
            frame = self.last_good.get(header.stream_id)
            if frame is None or frame.shape[:2] != (header.height, header.width):
                frame = np.full((header.height, header.width, 3), 128, np.uint8)  # nothing good yet: grey
        header.hops["rx_decoded"] = time.time()
        self.counters["frames_received"] += 1
        self.links.add(header.hops)
        self.latency.add(header.hops)
        self.symbols_sum += header.n_symbols
        self.frames_n += 1
        self.largest = max(self.largest, (header.height, header.width))
        snr = header.channel.snr_db if header.channel else None
        decode_ms = 1000.0 * (header.hops["rx_decoded"] - header.hops["rx_start"])
        self._send_feedback(feedback.Feedback(type="ack", stream_id=header.stream_id, seq=header.seq, ok=ok, snr_db=snr,
                                              decode_ms=decode_ms))
        self._drain_references()
        ref = self.refs.pop(header.stream_id, header.seq)
        quality = None
        if ref is not None and ref.shape == frame.shape:
            quality = psnr_db(frame, ref)
            self.psnr_sum += quality
            self.psnr_n += 1
        self.trace.append(header.seq, snr, header.n_symbols, ok, quality, header.hops)
        self.counters["symbols_received"] += header.n_symbols
        run = self._stream_run(header, ok)
        self._last_stream = {
            "sent": header.seq + 1, "received": run["received"],  # this transmitter run: seq counts frames sent
            "lost": header.seq + 1 - run["received"],  # ... sent and never shown: erased, dropped or in a fault
            "stream_id": header.stream_id, "seq": header.seq, "scheme": header.scheme, "scheme_params": header.scheme_params,
            "height": header.height, "width": header.width, "snr_db": snr, "ok": ok, "psnr_db": quality,
            "channel": header.channel.model if header.channel else None, "has_original": ref is not None,
            "cbr": header.n_symbols / (header.height * header.width * 3), "at": header.hops["rx_decoded"],
        }
        if self.view is not None:
            self.view.publish(self._last_stream, frame, ref)
        if self.recorder is not None:
            try:
                self.recorder.write(frame, ref)
            except OSError as exc:
                log.error("recording stopped: %s", exc)
                self.recorder = None
        if self.sink is not None:
            try:
                self.sink.write(header.stream_id, header.seq, frame)
            except UnsafePath as exc:
                self.counters["frames_not_written"] += 1
                log.warning("frame %d not written: %s", header.seq, exc)

    def _stream_run(self, header: Header, ok: bool) -> dict:
        """The stream's current transmitter run, updated with this frame (a new run numbers from 0 again)."""
        run = self._runs.get(header.stream_id)
        if run is None or header.seq < run["seq"]:
            run = self._runs[header.stream_id] = {"seq": -1, "received": 0, "decoded": 0, "in_order": True,
                                                  "end_to_end": LatencyHistogram()}
        self._runs.move_to_end(header.stream_id)
        while len(self._runs) > STREAM_RECORDS:  # a peer inventing stream ids must not grow this
            self._runs.popitem(last=False)
        run["in_order"] &= header.seq > run["seq"]
        run["seq"] = header.seq
        run["received"] += 1
        run["decoded"] += ok
        run["end_to_end"].add(1000.0 * (header.hops["rx_decoded"] - header.hops.get("tx_capture", header.hops["rx_recv"])))
        return run

    def run(self) -> dict:
        self._reading.set()
        self._reader.start()
        last_msg = time.monotonic()
        if self.web is not None:
            self.web.start()
        while not self.stop:
            self._drain_references()
            self.latency.tick()
            self._sample_for_viewer()
            self._deliver_ready()
            try:  # frames at the decoder: look for their results often
                t_recv, frames = self._inbox.get(timeout=(IN_FLIGHT_POLL_MS if self.in_flight.n else IDLE_POLL_MS) / 1000)
            except queue.Empty:
                if self.settings.idle_timeout_s and time.monotonic() - last_msg > self.settings.idle_timeout_s:
                    log.info("idle for %.0f s: stopping", self.settings.idle_timeout_s)
                    break
                continue
            last_msg = time.monotonic()
            if self.in_flight.n >= self.decoding.in_flight:  # the decoder has enough: wait for its oldest
                self.in_flight.wait(FLUSH_S)
                self._deliver_ready()
            if not self.handle(frames, t_recv):
                break
        self._flush(FLUSH_S if not self.stop else 1.0)
        return self.stats()

    def _sample_for_viewer(self) -> None:
        """Once a second: the viewer's latency chart point and counters, taken on this (the decoder's) thread."""
        if self.view is None or time.monotonic() < self._next_sample:
            return
        self._next_sample = time.monotonic() + VIEWER_SAMPLE_S
        window = self.latency.summary()
        self.view.sample({k: list(v) for k, v in window.items()}, self.latency.frames() / self.settings.latency_window_s,
                         dict(self.counters))

    def _gauges(self):
        """The receiver's gauges for Prometheus: the newest frame's SNR, CBR and PSNR; model load times; viewers."""
        last = self._last_stream
        for name, doc, key in (("semcom_snr_db", "channel SNR of the newest frame, dB", "snr_db"),
                               ("semcom_cbr", "channel uses per pixel value of the newest frame", "cbr"),
                               ("semcom_psnr_db", "PSNR of the newest frame against its reference, dB", "psnr_db")):
            if last.get(key) is not None:
                yield name, doc, {"scheme": last["scheme"]}, float(last[key])
        for scheme, seconds in self.decoder.load_seconds.items():
            yield "semcom_model_load_seconds", "time to build and warm a scheme's decoder", {"scheme": scheme}, seconds
        if self.view is not None:
            yield "semcom_viewers", "live viewer streams open", {}, float(self.view.viewers)

    def stats(self) -> dict:
        n_sym = self.symbols_sum / self.frames_n if self.frames_n else 0.0
        h, w = self.largest
        return {
            "counters": dict(self.counters),
            "links": self.links.summary(),
            "hops": self.links.hop_span(),
            "quality": {"psnr_db": self.psnr_sum / self.psnr_n if self.psnr_n else None, "n_frames": self.psnr_n},
            "rate": {"symbols_per_frame": n_sym, "cbr": n_sym / (h * w * 3) if h else None, "height": h, "width": w},
            "trace": self.trace.rows(),
            "controls": list(self.controls),
            "streams": {sid: {"sent": r["seq"] + 1, "received": r["received"], "decoded": r["decoded"],
                              "lost": r["seq"] + 1 - r["received"], "in_order": r["in_order"],
                              "end_to_end": r["end_to_end"].summary()} for sid, r in self._runs.items()},
            "decoding": {"backend": self.decoding.name, "frames_by_replica": dict(self.decoded_by),
                         "mean_batch": self.batch_frames / sum(self.decoded_by.values()) if self.decoded_by else None},
        }
