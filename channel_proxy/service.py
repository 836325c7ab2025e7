"""The channel proxy: pure physics between transmitter and receiver.

It never parses a payload: every frame is a burst of complex symbols that gets
y = h x + n, a possible erasure, air time at the symbol rate, and propagation
delay plus jitter. Frames leave in arrival order (a FIFO link, as netem with a
rate). Control messages (probe, heartbeat, end of stream) pass unfaded, in order; a
control record (:mod:`shared.control`) changes the channel from the next frame on.

Backpressure: frames in flight wait in a bounded delay line; while it is full,
or the receiver's side will not take more, the proxy stops reading, and the
transmitter's high-water mark fills up behind it.
"""
from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from shared import protocol
from shared.config import ChannelConfig, Endpoints
from shared.control import apply_channel
from shared.pipeline import ChannelStage
from shared.prometheus import ServiceCollector
from shared.protocol import Header, Kind, Limits
from shared.security import LinkSecurity
from shared.telemetry import Counters, LinkStats, RollingLatency
from shared.transport import StopFlag, close_sockets, endpoint, make_socket, parse_or_drop

log = logging.getLogger("proxy")
MAX_IN_FLIGHT = 256  # frames in the delay line: 1 s of delay at 256 fps, ~32 MB of 256x256 frames
MAX_IN_FLIGHT_BYTES = 256 * 1024 * 1024  # ... and their symbols: a few large frames may not hold gigabytes
IDLE_POLL_MS = 100  # how often an idle proxy looks at its stop flag


@dataclass(order=True)
class _InFlight:
    release: float
    order: int
    header: Header = field(compare=False)
    payloads: list[np.ndarray] = field(compare=False)


class ProxyService:
    def __init__(self, channel: ChannelConfig, endpoints: Endpoints, stop: StopFlag, *, hwm: int = 2,
                 limits: Limits = Limits(), exit_on_eos: bool = False, eos_streams: int = 1, latency_every_s: float = 10.0,
                 latency_window_s: float = 10.0, security: LinkSecurity | None = None):
        self.stage = ChannelStage(channel)
        self.latency = RollingLatency(logging.getLogger("proxy.latency"), latency_every_s, latency_window_s)
        self.stop, self.limits, self.exit_on_eos = stop, limits, exit_on_eos
        self.eos_streams, self._ended = eos_streams, set()  # with exit_on_eos: exit once this many streams have ended
        self.counters = Counters()
        self.links = LinkStats()  # tx_to_proxy and channel, for Prometheus
        self.metrics = ServiceCollector("proxy", self.counters, self.links, self._gauges)
        self.ctx = zmq.Context.instance()
        self.inp = make_socket(self.ctx, zmq.PULL, hwm=hwm, limits=limits, security=security, link="proxy_in",
                               bind=endpoint(endpoints.bind_host, endpoints.proxy_in_port))
        self.out = make_socket(self.ctx, zmq.PUSH, hwm=hwm, limits=limits, security=security, link="proxy_out",
                               bind=endpoint(endpoints.bind_host, endpoints.proxy_out_port))
        self.line: list[_InFlight] = []  # heap by release time
        self.line_bytes = 0  # symbol bytes held in the line
        self._order = 0
        self._link_free = 0.0  # when the air interface finishes the last burst
        self._last_release = 0.0  # FIFO: no frame overtakes an earlier one

    def close(self) -> None:
        close_sockets((self.inp, self.out), flush=not self.stop)

    def _schedule(self, header: Header, payloads: list[np.ndarray], delay_s: float, airtime_s: float) -> None:
        now = time.time()
        self._link_free = max(now, self._link_free) + airtime_s
        release = max(self._link_free + delay_s, self._last_release)
        self._last_release = release
        heapq.heappush(self.line, _InFlight(release, self._order, header, payloads))
        self._order += 1
        self.line_bytes += sum(p.nbytes for p in payloads)

    def handle(self, frames: list[zmq.Frame]) -> None:
        """Take one incoming message: validate, fade, schedule; drop and count what is bad."""
        t_recv = time.time()
        message = parse_or_drop(frames, self.limits, self.counters, log)
        if message is None:
            return
        header, payloads = message
        if header.kind == Kind.CONTROL:
            header = self._apply_control(header)
        if header.kind != Kind.FRAME:
            self._schedule(header, [], 0.0, 0.0)
            return
        header.hops["proxy_recv"] = t_recv
        header, faded, real = self.stage.process(header, payloads)
        if real.erased:
            self.counters["frames_erased"] += 1
            return
        self.counters["frames_in"] += 1
        self._schedule(header, faded, real.delay_s, self.stage.sim.airtime_s(header.n_symbols))

    def _apply_control(self, header: Header) -> Header:
        """A control record: its channel from the next frame on (if the transmitter applied it). Passed on
        to the receiver, marked not applied (with why) if the channel it asks for is not one."""
        record = header.control
        if not record.applied or record.channel is None:
            return header
        try:
            self.stage = ChannelStage(apply_channel(self.stage.config, record.channel))
        except ValueError as exc:
            self.counters["controls_refused"] += 1
            log.warning("control %d: channel not changed: %s", record.id, exc)
            failed = record.model_copy(update={"applied": False, "reason": f"the proxy refused the channel: {exc}"[:600]})
            return header.model_copy(update={"control": failed})
        self.counters["controls_applied"] += 1
        log.info("control %d: channel now %s at %.1f dB", record.id, self.stage.config.model, self.stage.config.snr_db)
        return header

    def _gauges(self):
        config = self.stage.config
        yield "semcom_channel_snr_db", "the SNR the proxy applies now (its mean, with an SNR schedule), dB", \
            {"model": config.model, "schedule": config.snr_schedule.partition(":")[0]}, config.snr_db
        yield "semcom_delay_line_frames", "frames held in the proxy's delay line", {}, float(len(self.line))

    def _release_due(self) -> bool:
        """Send every frame whose time has come; returns False once end-of-stream went out."""
        while self.line and self.line[0].release <= time.time():
            item = self.line[0]
            item.header.hops["proxy_sent"] = time.time()
            try:
                self.out.send_multipart(protocol.encode(item.header, item.payloads), flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return True  # the receiver side is full: keep it, and stop reading until it drains
            heapq.heappop(self.line)
            self.line_bytes -= sum(p.nbytes for p in item.payloads)
            if item.header.kind == Kind.FRAME:
                self.counters["frames_out"] += 1
                self.latency.add(item.header.hops)
                self.links.add(item.header.hops)
            elif item.header.kind == Kind.EOS and self.exit_on_eos:
                if len(self._ended) < self.eos_streams:
                    self._ended.add(item.header.stream_id)
                if len(self._ended) >= self.eos_streams:
                    return False
        return True

    def run(self) -> dict:
        poller = zmq.Poller()
        while not self.stop:
            if not self._release_due():
                break
            self.latency.tick()
            head_due = bool(self.line) and self.line[0].release <= time.time()
            can_read = len(self.line) < MAX_IN_FLIGHT and self.line_bytes < MAX_IN_FLIGHT_BYTES and not head_due
            wait = IDLE_POLL_MS
            if self.line and not head_due:
                wait = max(0, min(wait, int(1000 * (self.line[0].release - time.time())) + 1))
            poller.register(self.inp, zmq.POLLIN if can_read else 0)
            poller.register(self.out, zmq.POLLOUT if head_due else 0)
            events = dict(poller.poll(wait))
            if events.get(self.inp, 0) & zmq.POLLIN:
                self.handle(self.inp.recv_multipart(copy=False))
        return {"counters": dict(self.counters), "channel": self.stage.config.model_dump()}
