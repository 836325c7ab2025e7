"""Prometheus metrics: every counter, link histogram and gauge a service keeps, read at scrape time;
``--metrics-port`` on a real service process."""
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.launcher import endpoint_argv, free_endpoints, free_ports
from shared.prometheus import BUCKETS_MS, ServiceCollector, service_registry
from shared.telemetry import Counters, LinkStats


def _families(registry) -> dict:
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def test_counters_histograms_and_gauges_as_prometheus_families():
    counters = Counters({"frames_received": 7, "dropped.malformed_header": 2, "dropped.wrong_version": 1})
    links = LinkStats()
    decode_ms = np.random.default_rng(0).exponential(40, 500)
    for ms in decode_ms:
        links.add({"rx_start": 100.0, "rx_decoded": 100.0 + ms / 1000})
    gauges = lambda: [("semcom_snr_db", "SNR", {"scheme": "digital"}, 7.5)]  # noqa: E731
    fam = _families(service_registry(ServiceCollector("receiver", counters, links, gauges)))
    assert fam["semcom_frames_received"].samples[0].value == 7
    dropped = {s.labels["reason"]: s.value for s in fam["semcom_dropped"].samples}
    assert dropped == {"malformed_header": 2, "wrong_version": 1}  # one family, the reason as a label
    buckets = {s.labels["le"]: s.value for s in fam["semcom_link_latency_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["link"] == "rx_decode"}
    for ms in BUCKETS_MS:  # each bucket within one 1 % bin of the exact count
        exact = int((decode_ms <= ms).sum())
        near = int((decode_ms <= ms * 1.011).sum()) - int((decode_ms <= ms / 1.011).sum())
        assert abs(buckets[str(ms / 1000)] - exact) <= near, ms
    assert buckets["+Inf"] == 500
    total = [s.value for s in fam["semcom_link_latency_seconds"].samples if s.name.endswith("_sum")][0]
    assert abs(total - decode_ms.sum() / 1000) < 1e-6
    snr = fam["semcom_snr_db"].samples[0]
    assert snr.value == 7.5 and snr.labels == {"service": "receiver", "scheme": "digital"}
    counters["frames_received"] += 1  # read at scrape time: nothing to keep in step
    assert _families(service_registry(ServiceCollector("receiver", counters, links)))["semcom_frames_received"].samples[0].value == 8


def test_a_service_serves_its_metrics_on_metrics_port():
    port = free_ports(1)[0]
    proxy = subprocess.Popen([sys.executable, "-m", "channel_proxy", "--insecure", "--snr-db", "7", "--metrics-port", str(port),
                              *endpoint_argv(free_endpoints())], stderr=subprocess.PIPE, text=True)
    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not text:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                assert proxy.poll() is None, proxy.stderr.read()
                time.sleep(0.2)
        fam = {f.name: f for f in text_string_to_metric_families(text)}
        snr = fam["semcom_channel_snr_db"].samples[0]
        assert snr.value == 7.0 and snr.labels["service"] == "proxy" and snr.labels["model"] == "awgn"
        busy = subprocess.run([sys.executable, "-m", "channel_proxy", "--insecure", "--metrics-port", str(port),
                               *endpoint_argv(free_endpoints())],
                              capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2 and "Traceback" not in busy.stderr
        assert f"--metrics-port {port}" in busy.stderr.strip().splitlines()[-1]
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(20)
