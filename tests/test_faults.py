"""Streams survive faults: heartbeats both ways, a receiver that reconnects after libzmq dropped its
link, a transmitter that notices a dead path, re-probes and resumes, and a demo that restarts a
crashed service instead of hanging."""
import os
import signal
import threading
import time

import pytest
import sionna.phy.fec.ldpc  # noqa: F401  (imported once here: services below run as threads of one process)
import zmq

from channel_proxy.service import ProxyService
from receiver.service import ReceiverService, ReceiverSettings
from shared import feedback, launcher
from shared.config import ChannelConfig
from shared.launcher import run_pipeline
from shared.liveness import HEARTBEAT_INTERVAL_S, HEARTBEAT_LIVENESS, Silence
from shared.pipeline import FrameEncoder
from shared.protocol import Limits
from shared.spare import read_role
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL, ServiceThread, faded_frame, wait_for
from transmitter.service import TransmitterService, TransmitterSettings

LIVENESS_S = HEARTBEAT_LIVENESS * HEARTBEAT_INTERVAL_S
DIGITAL_ARGV = ["--scheme", "digital", "--size", "64", "--param", "cbr=0.25", "--param", "link.modulation=qpsk",
                "--param", "link.code_rate=0.5", "--param", "link.ldpc_k=1024"]


def test_silence_expires_after_the_liveness_period():
    now = [0.0]
    s = Silence(clock=lambda: now[0])
    now[0] = LIVENESS_S - 0.01
    assert not s.expired()
    now[0] = LIVENESS_S + 0.01
    assert s.expired()
    s.heard()
    assert not s.expired()


def test_the_receiver_reconnects_after_an_oversized_message(endpoints, small_frame):
    """libzmq closes a connection that brings a part over ZMQ_MAXMSGSIZE and never reconnects it:
    the receiver used to stay silent for good. Now it reconnects after the liveness period."""
    limits = Limits(max_message_bytes=100_000)
    rx = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False), limits=limits)
    runner = ServiceThread(rx)
    proxy_out = zmq.Context.instance().socket(zmq.PUSH)  # stands in for the proxy
    proxy_out.setsockopt(zmq.LINGER, 0)
    proxy_out.bind(f"tcp://127.0.0.1:{endpoints.proxy_out_port}")
    good = faded_frame(small_frame)
    try:
        proxy_out.send_multipart(good)
        assert wait_for(lambda: rx.counters["frames_received"] == 1, 10)
        proxy_out.send_multipart([good[0], b"\0" * 200_000])  # one part over the limit: the link is cut
        t_cut = time.monotonic()
        for _ in range(200):  # keep offering good frames; they wait until the receiver is back
            try:
                proxy_out.send_multipart(good, flags=zmq.NOBLOCK)
            except zmq.Again:
                pass
            if rx.counters["frames_received"] > 1:
                break
            time.sleep(0.05)
        assert wait_for(lambda: rx.counters["frames_received"] > 1, LIVENESS_S + 5)
        assert rx.counters["input_reconnects"] >= 1
        assert time.monotonic() - t_cut < LIVENESS_S + 5
    finally:
        runner.stop()
        proxy_out.close(0)


def test_the_receiver_heartbeats_even_while_it_decodes(endpoints):
    rx = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False))
    rx.handle = lambda *a, **k: (time.sleep(2.5), True)[1]  # noqa: E731  a decoder busy for 2.5 s
    runner = ServiceThread(rx)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{endpoints.feedback_port}")
    try:
        beats = []
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            if sub.poll(100):
                beats.append(feedback.unpack(sub.recv()).type)
        assert beats.count("heartbeat") >= 2
    finally:
        runner.stop()
        sub.close(0)


def _start_receiver(endpoints, timeout=10.0) -> tuple[ReceiverService, ServiceThread]:
    """A receiver on ``endpoints``; a port a closed one held may take a moment to be free again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rx = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False))
            return rx, ServiceThread(rx)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_transmitter_notices_a_dead_receiver_reprobes_and_resumes(endpoints, small_frame):
    proxy = ProxyService(ChannelConfig(snr_db=30), endpoints, StopFlag(install_signals=False))
    proxy_run = ServiceThread(proxy)
    rx, rx_run = _start_receiver(endpoints)
    frames = (small_frame for _ in range(100_000))
    tx = TransmitterService(frames, FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            TransmitterSettings(fps=10, window=2, wait_ready_s=20), StopFlag(install_signals=False))
    tx_run = ServiceThread(tx)
    try:
        assert wait_for(lambda: rx.counters["frames_received"] >= 5, 30)
        rx_run.stop()  # the receiver is gone
        t_gone = time.monotonic()
        assert wait_for(lambda: tx.counters["outages"] == 1, LIVENESS_S + 5)
        assert time.monotonic() - t_gone >= LIVENESS_S - 0.5  # not before the liveness period
        time.sleep(1.0)
        rx2, rx2_run = _start_receiver(endpoints)
        t_back = time.monotonic()
        assert wait_for(lambda: rx2.counters["frames_received"] >= 3, 15)
        assert wait_for(lambda: tx.outages, 5)
        print(f"frames again {time.monotonic() - t_back:.2f} s after the receiver came back")
        outage = tx._outage_summary(tx.outages[0])
        assert outage["duration_s"] >= LIVENESS_S and outage["frames_lost"] >= 0 and outage["frames_skipped"] > 0
        rx2_run.stop()
    finally:
        tx_run.stop()
        proxy_run.stop()
    stats = tx_run.result
    assert stats["counters"]["outages"] == 1 and len(stats["outages"]) == 1


def _child_pid(module: str) -> int | None:
    """The pid of our child process running ``python -m module``."""
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == me and b"-m" in argv and module.encode() in argv:
            return int(pid)
    return None


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the service process in /proc")
@pytest.mark.parametrize("standby", [False, True], ids=["fresh", "spare"])
def test_the_demo_restarts_a_crashed_receiver_and_the_stream_goes_on(tmp_path, monkeypatch, standby):
    out = tmp_path / "frames"
    argv = {"receiver": ["--exit-on-eos", "--out", str(out)], "proxy": ["--exit-on-eos"],
            "transmitter": ["--source", "builtin", "--frames", "120", "--fps", "10", *DIGITAL_ARGV]}
    runs = []  # the run's ServiceProcesses, to see when its spare is warm
    enter = launcher.ServiceProcesses.__enter__
    monkeypatch.setattr(launcher.ServiceProcesses, "__enter__", lambda self: runs.append(self) or enter(self))
    monkeypatch.setattr(launcher, "SPARE_AFTER_S", 0.0)
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        run=run_pipeline(argv, prog="test", timeout=180, restarts=1, standby=standby)))
    runner.start()
    assert wait_for(lambda: out.exists() and len(list(out.glob("*.png"))) >= 5, 90)
    if standby:
        assert wait_for(lambda: runs[0].spare_ready(), 90)
    victim = _child_pid("receiver")
    os.kill(victim, signal.SIGKILL)
    t_kill = time.monotonic()
    if standby:  # the spare takes over at once: frames again within the liveness period of the kill
        shown = len(list(out.glob("*.png")))
        assert wait_for(lambda: len(list(out.glob("*.png"))) > shown + 2, LIVENESS_S + 2)
        print(f"frames again {time.monotonic() - t_kill:.2f} s after the kill")
    runner.join(200)
    run = result["run"]
    assert run.outcome == "done", (run.outcome, run.reason)
    assert [r["service"] for r in run.restarts] == ["receiver"] and "SIGKILL" in run.restarts[0]["reason"]
    assert run.restarts[0]["spare"] is standby and run.restarts[0]["spare_was_warm"] is standby
    assert run.stats["receiver"]["counters"]["frames_received"] > 0  # the new receiver showed frames
    assert any(p.name.startswith("default.2_") for p in out.glob("*.png"))  # ... under a new run name
    assert _child_pid("shared.spare") is None  # the spare is stopped with the run


def test_a_crash_without_restarts_left_stops_the_demo_at_once(tmp_path):
    argv = {"receiver": ["--exit-on-eos"], "proxy": ["--exit-on-eos"],
            "transmitter": ["--source", "builtin", "--frames", "0", "--fps", "10", *DIGITAL_ARGV]}
    result = {}
    runner = threading.Thread(target=lambda: result.update(run=run_pipeline(argv, prog="test", timeout=180)))
    runner.start()
    assert wait_for(lambda: _child_pid("channel_proxy") is not None, 30)
    time.sleep(3)
    os.kill(_child_pid("channel_proxy"), signal.SIGKILL)
    t_kill = time.monotonic()
    runner.join(60)
    assert not runner.is_alive() and time.monotonic() - t_kill < 15  # stopped, not waiting for the timeout
    run = result["run"]
    assert run.outcome == "failed" and run.failed == "proxy" and "SIGKILL" in run.reason


@pytest.mark.parametrize("line", ['["receiver", []]', '{"service": "shell", "argv": []}', '{"service": "receiver", "argv": "x"}',
                                  '{"service": "proxy", "argv": [1]}', '{"service": "proxy", "argv": [], "extra": 1}'])
def test_a_spare_accepts_only_a_known_service_and_a_list_of_strings(line):
    with pytest.raises(ValueError):
        read_role(line)
    assert read_role('{"service": "proxy", "argv": ["--exit-on-eos"]}') == ("proxy", ["--exit-on-eos"])
