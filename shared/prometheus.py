"""Prometheus metrics of a service, read at scrape time from the statistics it keeps anyway.

Nothing is counted twice: a collector turns the service's counters, link histograms and gauges into
metric families when Prometheus scrapes (``prometheus-client``). Every family carries the service
name as a label, so one dashboard covers all three services.

* ``semcom_link_latency_seconds{link}``: histogram per link (tx_encode, channel, rx_decode, end_to_end ...)
* ``semcom_<counter>_total``: every counter; a dotted counter such as ``dropped.malformed_header``
  becomes ``semcom_dropped_total{reason="malformed_header"}``
* gauges each service adds (``semcom_snr_db``, ``semcom_cbr``, ``semcom_model_load_seconds`` ...)

The transmitter and proxy serve them on ``--metrics-port``; the receiver also on its viewer, ``/metrics``.
"""
from __future__ import annotations

import re
import threading
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from shared.telemetry import Counters, LinkStats

BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000]  # sub-ms links to slow decoders
NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")

Gauge = tuple[str, str, dict[str, str], float]  # name, help, labels, value


def _metric_name(counter: str) -> tuple[str, str | None]:
    """``dropped.malformed_header`` -> (``semcom_dropped``, ``malformed_header``); ``frames_sent`` -> (``semcom_frames_sent``, None)."""
    base, _, reason = counter.partition(".")
    return "semcom_" + NAME_UNSAFE.sub("_", base), (reason or None)


class ServiceCollector:
    """One service's metrics, built from its live statistics at each scrape (a prometheus-client collector)."""

    def __init__(self, service: str, counters: Counters, links: LinkStats | None = None,
                 gauges: Callable[[], Iterable[Gauge]] = lambda: ()):
        self.service, self.counters, self.links, self.gauges = service, counters, links, gauges
        self.lock = threading.Lock()  # held by the service while it changes what this reads, if it cares

    def collect(self):
        families: dict[str, CounterMetricFamily] = {}
        for counter, value in sorted(dict(self.counters).items()):
            name, reason = _metric_name(counter)
            labels = ["service"] + (["reason"] if reason else [])
            key = name + ("{reason}" if reason else "")
            if key not in families:
                families[key] = CounterMetricFamily(name, f"semcom counter {counter.partition('.')[0]}", labels=labels)
            families[key].add_metric([self.service] + ([reason] if reason else []), value)
        yield from families.values()
        if self.links is not None:
            hist = HistogramMetricFamily("semcom_link_latency_seconds", "latency of each link of the pipeline",
                                         labels=["service", "link"])
            for link, h in self.links.links.items():
                if not h.n:
                    continue
                counts = h.count_below(BUCKETS_MS)
                buckets = [(str(ms / 1000.0), c) for ms, c in zip(BUCKETS_MS, counts)] + [("+Inf", h.n)]
                hist.add_metric([self.service, link], buckets, sum_value=h.total / 1000.0)
            yield hist
        for name, doc, labels, value in self.gauges():
            g = GaugeMetricFamily(name, doc, labels=["service", *labels])
            g.add_metric([self.service, *labels.values()], value)
            yield g


def service_registry(collector: ServiceCollector) -> CollectorRegistry:
    """A registry of its own per service (not the global one: services run as threads of one process in tests)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve_metrics(host: str, port: int, registry: CollectorRegistry):
    """``GET /metrics`` on ``host:port`` in a daemon thread; returns the server (``shutdown()`` stops it).
    OSError when the port cannot be bound."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
