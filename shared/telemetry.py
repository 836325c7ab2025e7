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
from collections import Counter

import numpy as np

LINKS: dict[str, tuple[str, str]] = {
    "tx_queue": ("tx_capture", "tx_start"),
    "tx_encode": ("tx_start", "tx_encoded"),
    "tx_to_proxy": ("tx_sent", "proxy_recv"),
    "channel": ("proxy_recv", "proxy_sent"),
    "proxy_to_rx": ("proxy_sent", "rx_recv"),
    "rx_queue": ("rx_recv", "rx_start"),
    "rx_decode": ("rx_start", "rx_decoded"),  # equalise + decode (with Ray: the three links below, in order)
    "ray_dispatch": ("rx_dispatched", "ray_start"),  # front -> replica: Ray's transport, its queue, the batch wait
    "ray_decode": ("ray_start", "ray_decoded"),  # the replica decodes a batch
    "ray_return": ("ray_decoded", "rx_decoded"),  # replica -> front, and the wait for the stream's earlier frames
    "end_to_end": ("tx_capture", "rx_decoded"),
}
LINK_KINDS: dict[str, str] = {
    "tx_queue": "queue", "tx_encode": "service", "tx_to_proxy": "network", "channel": "channel",
    "proxy_to_rx": "network", "rx_queue": "queue", "rx_decode": "service", "ray_dispatch": "network",
    "ray_decode": "service", "ray_return": "network", "end_to_end": "total",
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

    def count_below(self, edges_ms: list[float]) -> list[int]:
        """Values at or below each edge (ascending), to within one bin (1 %): a Prometheus histogram's buckets."""
        cumulative = np.cumsum(self.counts)  # (N_BINS,) values in bins 0..i; bin i >= 1 ends at LOW_MS * BIN_RATIO**i
        last = [0 if e < self.LOW_MS else min(self.N_BINS - 1, int(np.log(e / self.LOW_MS) / np.log(self.BIN_RATIO)))
                for e in edges_ms]
        return [int(cumulative[i]) if e >= self.LOW_MS else 0 for i, e in zip(last, edges_ms)]

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100): the geometric middle of the bin holding that rank, never above max."""
        rank = max(1, int(np.ceil(q / 100.0 * self.n)))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        if i == 0:
            return min(self.max, self.LOW_MS)
        middle = self.LOW_MS * self.BIN_RATIO ** (i - 0.5)
        return float(min(self.max, middle))

    def summary(self) -> dict[str, float]:
        """p50 / p95 / p99 / max / mean (ms) and the count; {} when empty."""
        if not self.n:
            return {}
        return {"p50_ms": self.percentile(50), "p95_ms": self.percentile(95), "p99_ms": self.percentile(99),
                "max_ms": float(self.max), "mean_ms": self.total / self.n, "n": self.n}


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
        return {name: hist.summary() for name, hist in self.links.items() if hist.n}


class FrameTrace:
    """The last ``maxlen`` frames' seq, channel SNR, symbols, decoded or not, PSNR and link times, in
    one preallocated numpy record array: no Python objects per frame while a stream runs."""

    def __init__(self, maxlen: int):
        self.maxlen = maxlen
        self._rows = np.zeros(maxlen, dtype=[("seq", "i8"), ("snr_db", "f8"), ("symbols", "i8"), ("ok", "?"),
                                             ("psnr_db", "f8"), ("links_ms", "f8", (len(LINKS),))])  # (maxlen,)
        self._n = 0  # frames added in all

    def append(self, seq: int, snr_db: float | None, symbols: int, ok: bool, psnr_db: float | None,
               hops: dict[str, float]) -> None:
        row = self._rows[self._n % self.maxlen]
        row["seq"], row["symbols"], row["ok"] = seq, symbols, ok
        row["snr_db"] = np.nan if snr_db is None else snr_db
        row["psnr_db"] = np.nan if psnr_db is None else psnr_db
        ms = link_ms(hops)
        row["links_ms"] = [ms.get(name, np.nan) for name in LINKS]
        self._n += 1

    def __len__(self) -> int:
        return min(self._n, self.maxlen)

    def rows(self) -> list[dict]:
        """Oldest first, as the report's JSON: absent values are None, absent links left out."""
        order = [(self._n - len(self) + i) % self.maxlen for i in range(len(self))]
        out = []
        for r in self._rows[order]:
            out.append({"seq": int(r["seq"]), "snr_db": None if np.isnan(r["snr_db"]) else float(r["snr_db"]),
                        "symbols": int(r["symbols"]), "ok": bool(r["ok"]),
                        "psnr_db": None if np.isnan(r["psnr_db"]) else float(r["psnr_db"]),
                        "links_ms": {name: round(float(v), 2) for name, v in zip(LINKS, r["links_ms"]) if not np.isnan(v)}})
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
    ``every_s`` seconds (0 = never), so a service run by hand or by compose shows it.

    The samples live in preallocated numpy rings (WINDOW_CAPACITY rows, one column per link), so
    a stream creates no Python objects per frame for it: a long run's memory stays flat (a window of
    per-frame dicts made the allocator's footprint creep). Past WINDOW_CAPACITY samples within the
    window (over ~800 frames a second at 10 s), the oldest give way and the line covers less time."""

    WINDOW_CAPACITY = 8192  # samples (frames, and extra rows such as round trips)
    COLUMNS = (*LINKS, "round_trip")  # every link a service reports; others are ignored

    def __init__(self, logger, every_s: float, window_s: float, clock=time.monotonic):
        self.logger, self.every_s, self.window_s, self.clock = logger, every_s, window_s, clock
        self._col = {name: i for i, name in enumerate(self.COLUMNS)}
        self._t = np.full(self.WINDOW_CAPACITY, -np.inf)  # (C,) clock time of each row; -inf = empty
        self._ms = np.full((self.WINDOW_CAPACITY, len(self.COLUMNS)), np.nan)  # (C, links) NaN = not in that row
        self._frame = np.zeros(self.WINDOW_CAPACITY, bool)  # (C,) the row is a new frame
        self._next = 0  # the row the next sample overwrites
        self._next_log = clock() + every_s

    def add(self, hops: dict[str, float]) -> None:
        self.add_ms(link_ms(hops))

    def add_ms(self, links: dict[str, float], frame: bool = True) -> None:
        """One frame's link -> milliseconds; ``frame=False`` for more links of a frame already added
        (a service may add links of its own, e.g. the transmitter's round_trip when the ack comes)."""
        if self.every_s <= 0:
            return
        row = self._next
        self._next = (row + 1) % self.WINDOW_CAPACITY
        self._t[row], self._frame[row] = self.clock(), frame
        self._ms[row] = np.nan
        for name, ms in links.items():
            col = self._col.get(name)
            if col is not None:
                self._ms[row, col] = ms

    def _in_window(self) -> np.ndarray:
        return self._t >= self.clock() - self.window_s  # (C,)

    def summary(self) -> dict[str, tuple[float, float]]:
        """link -> (p50 ms, p95 ms) over the window."""
        rows = self._ms[self._in_window()]  # (n, links)
        out = {}
        for name, col in self._col.items():
            values = rows[:, col]
            values = values[~np.isnan(values)]
            if values.size:
                out[name] = (float(np.percentile(values, 50)), float(np.percentile(values, 95)))
        return out

    def frames(self) -> int:
        """New frames in the window."""
        return int(np.count_nonzero(self._frame & self._in_window()))

    def line(self) -> str:
        """'latency over the last 10 s: 48 frames (4.8/s); tx_encode 12/15 ms, ... (p50/p95)'."""
        order = {name: i for i, name in enumerate(LINKS)}
        parts = [f"{name} {p50:.0f}/{p95:.0f}" for name, (p50, p95) in sorted(self.summary().items(),
                                                                           key=lambda kv: order.get(kv[0], len(order)))]
        n = self.frames()
        head = f"latency over the last {self.window_s:g} s: {n} frames ({n / self.window_s:.1f}/s)"
        return head + ("; " + ", ".join(parts) + " ms (p50/p95)" if parts else "")

    def tick(self) -> None:
        """Log the line when it is due; call it often (after each frame, and when idle)."""
        if self.every_s <= 0 or self.clock() < self._next_log:
            return
        self._next_log = self.clock() + self.every_s
        if self.frames():  # an idle service stays quiet
            self.logger.info("%s", self.line())
