"""Per-link latency from the hop timestamps each service writes into the header,
and counters for what each service dropped.

Hops (wall-clock seconds, ``time.time()``): ``tx_capture`` (frame grabbed),
``tx_encoded``, ``tx_sent``, ``proxy_recv``, ``proxy_sent`` (after delay and air
time), ``rx_recv``, ``rx_decoded``. Across hosts the clocks must be synchronised
(NTP/PTP); in the demo all three processes share one clock.
"""
from __future__ import annotations

from collections import Counter, deque

import numpy as np

LINKS: dict[str, tuple[str, str]] = {
    "tx_encode": ("tx_capture", "tx_encoded"),
    "tx_to_proxy": ("tx_sent", "proxy_recv"),
    "channel": ("proxy_recv", "proxy_sent"),
    "proxy_to_rx": ("proxy_sent", "rx_recv"),
    "rx_decode": ("rx_recv", "rx_decoded"),
    "end_to_end": ("tx_capture", "rx_decoded"),
}
MAX_SAMPLES = 100_000  # per link: hours of video at 10 fps, bounded memory


class LinkStats:
    """Latency samples per link, in milliseconds."""

    def __init__(self) -> None:
        self.samples: dict[str, deque[float]] = {name: deque(maxlen=MAX_SAMPLES) for name in LINKS}
        self.first: dict[str, float] = {}  # hop -> earliest timestamp seen
        self.last: dict[str, float] = {}  # hop -> latest timestamp seen

    def add(self, hops: dict[str, float]) -> None:
        for name, (start, end) in LINKS.items():
            if start in hops and end in hops:
                self.samples[name].append(1000.0 * (hops[end] - hops[start]))
        for hop, t in hops.items():
            self.first[hop] = min(t, self.first.get(hop, t))
            self.last[hop] = max(t, self.last.get(hop, t))

    def hop_span(self) -> dict[str, dict[str, float]]:
        """hop -> its earliest and latest timestamp over all frames (e.g. sustained
        throughput = frames / (last ``rx_decoded`` - first ``tx_sent``))."""
        return {hop: {"first": self.first[hop], "last": self.last[hop]} for hop in self.first}

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, values in self.samples.items():
            if values:
                arr = np.asarray(values)
                out[name] = {
                    "p50_ms": float(np.percentile(arr, 50)),
                    "p95_ms": float(np.percentile(arr, 95)),
                    "p99_ms": float(np.percentile(arr, 99)),
                    "max_ms": float(arr.max()),
                    "n": int(arr.size),
                }
        return out


class Counters(Counter):
    """Named event counters (``frames_sent``, ``dropped.malformed_header``, ...)."""


def format_link_table(links: dict[str, dict[str, float]]) -> str:
    """A fixed-width table of link latencies for the terminal."""
    rows = [f"{'link':<13}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'n':>6}"]
    for name in LINKS:
        if name in links:
            s = links[name]
            rows.append(f"{name:<13}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['p99_ms']:>9.1f}{s['max_ms']:>9.1f}{s['n']:>6}")
    return "\n".join(rows)
