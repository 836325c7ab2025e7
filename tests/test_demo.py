"""``semcom demo`` end to end: three OS processes over TCP, a report, and a clean stop."""
import json
import os
import signal
import subprocess
import sys
import threading
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
    assert r["quality"]["n_frames"] == 3  # frame 0 too: the transmitter waits for the tap's subscriber
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


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux /proc)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def stream_until_signalled(sig: int, tmp_path, *, group: bool) -> tuple[subprocess.CompletedProcess, dict, list[int]]:
    """``--frames 0``: stream until ``sig`` reaches the demo (its whole process group, as a terminal's Ctrl-C
    does, or the demo alone, as ``kill`` does); -> the finished process, its report, its services' pids."""
    report = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "demo", *SMALL, "--frames", "0", "--fps", "5",
                             "--latency-every", "2", "--report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120  # start-up (imports, models) on a busy machine
    while time.monotonic() < deadline and not any("latency over the last" in ln for ln in err_lines):
        assert proc.poll() is None, "".join(err_lines)[-2000:]
        time.sleep(0.2)
    services = children(proc.pid)
    time.sleep(3)
    assert proc.poll() is None, "".join(err_lines)[-2000:]  # --frames 0 keeps streaming
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"demo did not stop on {signal.Signals(sig).name}")
    reader.join(5)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.read(), "".join(err_lines))
    return done, json.loads(report.read_text()), services


@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_frames_0_streams_until_stopped_then_reports_and_leaves_no_process(tmp_path, sig, group):
    done, r, services = stream_until_signalled(sig, tmp_path, group=group)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert 3 <= len(services) <= 4  # the three services, and the warm spare once it has started
    time.sleep(0.5)
    assert not any(alive(pid) for pid in services)  # no orphans
    assert r["outcome"] == "interrupted" and r["frames"]["received"] >= 10  # 2 s of latency lines and 3 more at 5 fps
    assert r["frames"]["sent"] - r["frames"]["received"] <= 2  # what was in flight at the stop, at most
    assert "end_to_end" in done.stdout
    assert "latency over the last 2 s" in done.stderr  # the receiver's rolling line, while it ran
    frame = r["trace"][-1]
    assert {"tx_encode", "channel", "rx_queue", "rx_decode", "end_to_end"} <= set(frame["links_ms"])


def test_a_killed_demo_takes_its_services_with_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "demo", *SMALL, "--frames", "0", "--fps", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(children(proc.pid)) < 3:
        time.sleep(0.2)
    services = children(proc.pid)
    assert 3 <= len(services) <= 4  # the three services, and the warm spare once it has started
    proc.kill()  # SIGKILL: the demo cannot clean up; the kernel tells its services (PR_SET_PDEATHSIG)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in services):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in services)


STARTUP_HANG_S = 60  # a failed start used to wait for the 600 s timeout; benchmarks/startup_failures.py times it


@pytest.mark.parametrize(
    "argv, needle, code",
    [
        (["--scheme", "digital", "--param", "cbr=0.0005"], "less than one", 2),  # the transmitter's warm-up: budget too small
        (["--scheme", "spic", "--param", "generator=hub"], "refused", 1),  # the receiver lacks the hub generator
    ],
)
def test_a_failed_start_ends_at_once_with_one_line(argv, needle, code):
    t0 = time.monotonic()
    proc = demo("--frames", "3", *argv, timeout=120, small=["--size", "64"])
    assert time.monotonic() - t0 < STARTUP_HANG_S, proc.stderr
    assert proc.returncode == code, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("semcom demo: error: ")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_service_that_dies_at_start_stops_the_others():
    from shared.launcher import run_pipeline

    t0 = time.monotonic()
    run = run_pipeline({"receiver": ["--threads", "0"], "proxy": ["--exit-on-eos"],
                        "transmitter": ["--size", "64", "--frames", "3", *SMALL[:2]]}, prog="test", timeout=120)
    assert time.monotonic() - t0 < STARTUP_HANG_S
    assert run.outcome == "failed" and run.failed == "receiver" and "--threads" in run.reason
    assert all(code is not None for code in run.exit_codes.values())  # nothing left running


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


def test_the_first_stop_signal_only_asks_and_the_second_insists():
    """Ctrl-C and SIGTERM set the run's stop flag, checked between polls (a KeyboardInterrupt inside Popen.poll can
    leave its lock held and hang the launcher's wait); a second signal raises, for a user who will not wait."""
    from shared.launcher import signals_as_stop

    stop = threading.Event()
    before = signal.getsignal(signal.SIGINT)
    with signals_as_stop(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs between bytecodes of this thread
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before  # restored on leaving
