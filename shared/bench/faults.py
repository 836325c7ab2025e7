"""Fault injection on the real services: kill one with SIGKILL mid-stream, start it again after a
gap, and measure how long until frames flow again and how many were lost.

The three services run as processes on 127.0.0.1 (:class:`~shared.launcher.ServiceProcesses`), a
live source at ``fps`` frames a second; the receiver writes each frame it shows as a PNG, and a
frame "flows" when its file appears. After the restart the stream runs ``settle_s`` more seconds,
then the transmitter is stopped like Ctrl-C and every service's statistics are read back.
"""
from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from shared.launcher import ServiceProcesses

FLOW_LIMIT_S = 120.0  # start-up (imports, models) before the first frame, and recovery after a restart
POLL_S = 0.05  # how often the harness looks for new frames


def _frames_shown(out: Path) -> list[float]:
    """Modification times of the frames the receiver wrote, oldest first."""
    times = []
    for f in out.glob("*.png"):
        try:
            times.append(f.stat().st_mtime)
        except FileNotFoundError:  # being replaced
            continue
    return sorted(times)


def _wait_frames(out: Path, n: int, after: float, limit_s: float) -> float | None:
    """Wall time at which ``n`` frames newer than ``after`` had been shown, or None after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        newer = [t for t in _frames_shown(out) if t > after]
        if len(newer) >= n:
            return newer[n - 1]
        time.sleep(POLL_S)
    return None


def fault_run(target: str, *, scheme_argv: list[str], fps: float = 10.0, size: int = 64, gap_s: float = 2.0,
              settle_s: float = 5.0, warm_frames: int = 10, standby: bool = False) -> dict:
    """Kill ``target`` (receiver, proxy or transmitter) once the stream runs, start it again after ``gap_s``
    (a fresh process, or with ``standby`` the warm spare waiting since the start).

    Returns the recovery time (restart -> first new frame shown), the frames sent and shown, and the
    transmitter's outage records."""
    with tempfile.TemporaryDirectory(prefix="semcom-faults-") as tmp, ServiceProcesses() as services:
        out = Path(tmp) / "frames"
        argv = {
            "receiver": ["--out", str(out)],
            "proxy": [],
            "transmitter": ["--source", "builtin", "--frames", "0", "--fps", str(fps), "--size", str(size), *scheme_argv],
        }
        for name in ("receiver", "proxy", "transmitter"):
            services.start(name, argv[name])
        if standby:
            services.start_spare()
        t_start = time.time()
        if _wait_frames(out, warm_frames, 0.0, FLOW_LIMIT_S) is None:
            raise RuntimeError(f"no stream within {FLOW_LIMIT_S:.0f} s: {services.failed() or 'no service failed'}")
        while standby and not services.spare_ready() and time.time() - t_start < FLOW_LIMIT_S:
            time.sleep(POLL_S)  # a spare still importing would only be a fresh start begun early
        os.kill(services.procs[target].pid, signal.SIGKILL)
        services.procs[target].wait()
        t_kill = time.time()
        time.sleep(gap_s)
        shown_before = len(_frames_shown(out))
        t_restart = time.time()
        if not (standby and services.promote_spare(target, argv[target])):
            services.start(target, argv[target])
        t_flow = _wait_frames(out, 1, t_restart, FLOW_LIMIT_S)
        t_flow3 = _wait_frames(out, 3, t_restart, FLOW_LIMIT_S) if t_flow else None
        time.sleep(settle_s)
        services.stop(first=("transmitter",))
        shown = len(_frames_shown(out))
        tx, rx = services.stats("transmitter"), services.stats("receiver")
        failed = {n: c for n, c in services.exit_codes().items() if c not in (0, None)}
    return {
        "target": target, "standby": standby, "gap_s": gap_s, "fps": fps, "size": size, "scheme_argv": scheme_argv,
        "streamed_s": round(time.time() - t_start, 1),
        "recovered_s": None if t_flow is None else round(t_flow - t_restart, 3),  # restart -> first frame shown
        "recovered_3_frames_s": None if t_flow3 is None else round(t_flow3 - t_restart, 3),
        "outage_s": None if t_flow is None else round(t_flow - t_kill, 3),  # kill -> first frame shown
        "frames_shown": shown, "frames_shown_before_restart": shown_before,
        "frames_sent": tx.get("counters", {}).get("frames_sent"),  # this transmitter process's own count
        "transmitter_outages": tx.get("outages", []),
        "receiver_counters": rx.get("counters", {}),
        "exit_codes_not_zero": failed,
    }
