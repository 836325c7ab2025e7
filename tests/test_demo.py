"""``semcom demo`` end to end: three OS processes over TCP, a report, and a clean stop."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

SMALL = ["--scheme", "digital", "--size", "64", "--param", "cbr=0.25", "--param", "link.modulation=qpsk", "--param", "link.ldpc_k=1024"]


def demo(*args, timeout=180, small=SMALL):
    return subprocess.run([sys.executable, "-m", "shared.cli", "demo", *small, *args],
                          capture_output=True, text=True, timeout=timeout)


def test_demo_reports_every_link_and_the_configured_delay(tmp_path):
    report = tmp_path / "report.json"
    out = tmp_path / "frames"
    proc = demo("--frames", "3", "--snr-db", "15", "--delay-ms", "20", "--report", str(report), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(report.read_text())
    assert r["frames"] == {"sent": 3, "received": 3, "dropped": 0, "erased": 0, "decode_failed": 0}
    for link in ("tx_encode", "tx_to_proxy", "channel", "proxy_to_rx", "rx_decode", "end_to_end"):
        assert {"p50_ms", "p95_ms", "max_ms"} <= set(r["links"][link])
    assert r["links"]["channel"]["p50_ms"] >= 20.0
    assert r["links"]["end_to_end"]["p50_ms"] >= r["links"]["channel"]["p50_ms"]
    assert r["quality"]["psnr_db"] > 20
    assert r["rate"]["symbols_per_frame"] == 3072 and abs(r["rate"]["cbr"] - 0.25) < 1e-9
    assert r["channel"]["model"] == "awgn" and r["channel"]["delay_ms"] == 20
    assert len(list(out.glob("*.png"))) == 3
    assert "end_to_end" in proc.stdout


def test_demo_below_the_cliff_shows_decode_failures(tmp_path):
    report = tmp_path / "report.json"
    proc = demo("--frames", "2", "--snr-db", "-4", "--channel", "rayleigh", "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(report.read_text())
    assert r["frames"]["received"] == 2 and r["frames"]["decode_failed"] == 2
    assert r["quality"]["psnr_db"] < 15  # a grey frame stands in for what was lost


def test_ctrl_c_stops_all_three_processes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "demo", *SMALL, "--frames", "100000", "--fps", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(12)
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole group
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("demo did not stop on Ctrl-C")
    assert "Traceback" not in err, err[-2000:]
    assert "frames" in out
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the demo's process group is left


def test_lrisc_rate_policy_follows_the_fed_back_snr(tmp_path):
    """The default scheme: once the receiver's acks report a good channel, frames get shorter."""
    report = tmp_path / "report.json"
    proc = demo("--frames", "8", "--window", "1", "--snr-schedule", "list:2,2,2,2,19,19,19,19", "--report", str(report),
                small=["--size", "64", "--param", "steps=1"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(report.read_text())
    assert r["scheme"] == "lrisc" and r["frames"]["received"] == 8 and r["frames"]["decode_failed"] == 0
    by_seq = {t["seq"]: t for t in r["trace"]}
    assert by_seq[0]["symbols"] == 32 * 8  # no feedback yet: the most the stream may spend (CBR 1/48 at 64x64)
    assert by_seq[7]["symbols"] < by_seq[3]["symbols"]  # stop-and-wait: frame 7 follows frame 6's ack at 19 dB
    assert "adaptive rate" in proc.stdout
