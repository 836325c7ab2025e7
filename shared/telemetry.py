"""Per-link latency from the hop timestamps each service writes into the header,
and counters for what each service dropped.

Hops (wall-clock seconds, ``time.time()``): ``tx_capture`` (frame grabbed),
``tx_start`` (encoding began), ``tx_encoded``, ``tx_sent``, ``proxy_recv``,
``proxy_sent`` (after delay and air time), ``rx_recv`` (arrived at the
receiver), ``rx_start`` (decoding began), ``rx_decoded``. Across hosts the
clocks must be synchronised (NTP/PTP); in the demo all three processes share
one clock.

Each link has a kind, so a report separates waiting from working:
``queue`` (a frame waits for a busy stage), ``service`` (a stage works on it),
``network`` (sockets between services) and ``channel`` (air time, propagation
and the FIFO of the simulated link).
"""
from __future__ import annotations

import time
from collections import Counter, deque

import numpy as np

LINKS: dict[str, tuple[str, str]] = {
    "tx_queue": ("tx_capture", "tx_start"),
    "tx_encode": ("tx_start", "tx_encoded"),
    "tx_to_proxy": ("tx_sent", "proxy_recv"),
    "channel": ("proxy_recv", "proxy_sent"),
    "proxy_to_rx": ("proxy_sent", "rx_recv"),
    "rx_queue": ("rx_recv", "rx_start"),
    "rx_decode": ("rx_start", "rx_decoded"),
    "end_to_end": ("tx_capture", "rx_decoded"),
}
LINK_KINDS: dict[str, str] = {
    "tx_queue": "queue", "tx_encode": "service", "tx_to_proxy": "network", "channel": "channel",
    "proxy_to_rx": "network", "rx_queue": "queue", "rx_decode": "service", "end_to_end": "total",
}
HOP_NAMES = frozenset(h for pair in LINKS.values() for h in pair)


def link_ms(hops: dict[str, float]) -> dict[str, float]:
    """link -> milliseconds, for every link whose two hops are in ``hops``."""
    return {name: 1000.0 * (hops[end] - hops[start]) for name, (start, end) in LINKS.items()
            if start in hops and end in hops}


class LatencyHistogram:
    """Milliseconds in log-spaced bins: fixed memory however long a stream runs (a soak must not
    grow), exact count, mean and max, percentiles within BIN_RATIO (1 %) of the true value."""

    BIN_RATIO = 1.01  # each bin 1 % wider than the last: percentiles to 1 %
    LOW_MS, HIGH_MS = 1e-3, 1e7  # 1 us to almost 3 h; values outside land in the end bins
    N_BINS = int(np.ceil(np.log(HIGH_MS / LOW_MS) / np.log(BIN_RATIO))) + 2  # + one bin below, one above

    def __init__(self) -> None:
        self.counts = np.zeros(self.N_BINS, np.int64)  # (N_BINS,)
        self.n, self.total, self.max = 0, 0.0, -np.inf

    def add(self, ms: float) -> None:
        if not np.isfinite(ms):
            return  # (headers refuse non-finite hops; a histogram never trusts that)
        if ms <= self.LOW_MS:
            i = 0
        else:
            i = min(self.N_BINS - 1, 1 + int(np.log(ms / self.LOW_MS) / np.log(self.BIN_RATIO)))
        self.counts[i] += 1
        self.n += 1
        self.total += ms
        self.max = max(self.max, ms)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100): the geometric middle of the bin holding that rank, never above max."""
        rank = max(1, int(np.ceil(q / 100.0 * self.n)))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        if i == 0:
            return min(self.max, self.LOW_MS)
        middle = self.LOW_MS * self.BIN_RATIO ** (i - 0.5)
        return float(min(self.max, middle))


class LinkStats:
    """Latency per link, in milliseconds, as fixed-size histograms."""

    def __init__(self) -> None:
        self.links: dict[str, LatencyHistogram] = {name: LatencyHistogram() for name in LINKS}
        self.first: dict[str, float] = {}  # hop -> earliest timestamp seen
        self.last: dict[str, float] = {}  # hop -> latest timestamp seen

    def add(self, hops: dict[str, float]) -> None:
        for name, ms in link_ms(hops).items():
            self.links[name].add(ms)
        for hop, t in hops.items():
            if hop not in HOP_NAMES:
                continue  # a peer's invented hop names must not grow this without bound
            self.first[hop] = min(t, self.first.get(hop, t))
            self.last[hop] = max(t, self.last.get(hop, t))

    def hop_span(self) -> dict[str, dict[str, float]]:
        """hop -> its earliest and latest timestamp over all frames (e.g. sustained
        throughput = frames / (last ``rx_decoded`` - first ``tx_sent``))."""
        return {hop: {"first": self.first[hop], "last": self.last[hop]} for hop in self.first}

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, hist in self.links.items():
            if hist.n:
                out[name] = {
                    "p50_ms": hist.percentile(50),
                    "p95_ms": hist.percentile(95),
                    "p99_ms": hist.percentile(99),
                    "max_ms": float(hist.max),
                    "mean_ms": hist.total / hist.n,
                    "n": hist.n,
                }
        return out


class Counters(Counter):
    """Named event counters (``frames_sent``, ``dropped.malformed_header``, ...)."""


def format_link_table(links: dict[str, dict[str, float]]) -> str:
    """A fixed-width table of link latencies for the terminal, with each link's kind."""
    rows = [f"{'link':<13}{'kind':<9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'n':>7}"]
    for name in LINKS:
        if name in links:
            s = links[name]
            rows.append(f"{name:<13}{LINK_KINDS[name]:<9}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['p99_ms']:>9.1f}"
                        f"{s['max_ms']:>9.1f}{s['n']:>7}")
    return "\n".join(rows)


class RollingLatency:
    """Per-link latency over the last ``window_s`` seconds, written as one log line every
    ``every_s`` seconds (0 = never), so a service run by hand or by compose shows it."""

    def __init__(self, logger, every_s: float, window_s: float, clock=time.monotonic):
        self.logger, self.every_s, self.window_s, self.clock = logger, every_s, window_s, clock
        self.samples: deque[tuple[float, dict[str, float], bool]] = deque()  # (clock time, link -> ms, a new frame)
        self._next_log = clock() + every_s

    def add(self, hops: dict[str, float]) -> None:
        self.add_ms(link_ms(hops))

    def add_ms(self, links: dict[str, float], frame: bool = True) -> None:
        """One frame's link -> milliseconds; ``frame=False`` for more links of a frame already added
        (a service may add links of its own, e.g. the transmitter's round_trip when the ack comes)."""
        if self.every_s > 0:
            now = self.clock()
            self.samples.append((now, links, frame))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self.samples and self.samples[0][0] < now - self.window_s:
            self.samples.popleft()

    def summary(self) -> dict[str, tuple[float, float]]:
        """link -> (p50 ms, p95 ms) over the window."""
        self._trim(self.clock())
        by_link: dict[str, list[float]] = {}
        for _, links, _ in self.samples:
            for name, ms in links.items():
                by_link.setdefault(name, []).append(ms)
        return {name: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for name, v in by_link.items()}

    def line(self) -> str:
        """'latency over the last 10 s: 48 frames (4.8/s); tx_encode 12/15 ms, ... (p50/p95)'."""
        order = {name: i for i, name in enumerate(LINKS)}
        parts = [f"{name} {p50:.0f}/{p95:.0f}" for name, (p50, p95) in sorted(self.summary().items(),
                                                                           key=lambda kv: order.get(kv[0], len(order)))]
        n = sum(frame for _, _, frame in self.samples)
        head = f"latency over the last {self.window_s:g} s: {n} frames ({n / self.window_s:.1f}/s)"
        return head + ("; " + ", ".join(parts) + " ms (p50/p95)" if parts else "")

    def tick(self) -> None:
        """Log the line when it is due; call it often (after each frame, and when idle)."""
        if self.every_s <= 0 or self.clock() < self._next_log:
            return
        self._next_log = self.clock() + self.every_s
        self._trim(self.clock())
        if any(frame for _, _, frame in self.samples):  # an idle service stays quiet
            self.logger.info("%s", self.line())
