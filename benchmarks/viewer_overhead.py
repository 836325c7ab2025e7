"""The viewer's cost, measured: the same stream with the viewer off, on with nobody watching, and on with
``--viewers`` open viewers (each reads the MJPEG stream to the end and polls the status twice a second,
as the page does). Sustained fps and end-to-end p50/p95 per case, side by side in one run, as JSON.

    python benchmarks/viewer_overhead.py --frames 300 --out results/viewer_overhead.json
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semcom import start  # noqa: E402
from shared.bench import hardware  # noqa: E402
from shared.bench.results import write_result  # noqa: E402
from shared.launcher import free_ports  # noqa: E402

STATUS_POLL_S = 0.5  # as the page polls


def watch(url: str, stop: threading.Event, seen: list[int]) -> None:
    """One viewer: connects as soon as the receiver serves, reads every MJPEG byte, polls the status."""
    while not stop.is_set():
        try:
            stream = urllib.request.urlopen(url + "stream.mjpg", timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    else:
        return
    poller = threading.Thread(target=poll_status, args=(url, stop), daemon=True)
    poller.start()
    with stream:
        while not stop.is_set():
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            seen[0] += chunk.count(b"--frame\r\n")


def poll_status(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            urllib.request.urlopen(url + "api/status", timeout=5).read()
        except OSError:
            pass
        time.sleep(STATUS_POLL_S)


def run_case(viewers: int | None, ns) -> dict:
    """viewers None: the viewer off; else the viewer on with this many open."""
    viewer = "off" if viewers is None else f"127.0.0.1:{free_ports(1)[0]}"
    stop, counts, threads = threading.Event(), [[0] for _ in range(viewers or 0)], []
    run = start(scheme=ns.scheme, size=ns.size, frames=ns.frames, fps=0, viewer=viewer, standby=False, restarts=0)
    for seen in counts:
        t = threading.Thread(target=watch, args=(run.viewer_url, stop, seen), daemon=True)
        t.start()
        threads.append(t)
    while run.running:
        time.sleep(0.2)
    report = run.stop()
    stop.set()
    e2e = report["links"].get("end_to_end", {})
    return {"viewers": viewers, "viewer": viewers is not None, "frames_received": report["frames"]["received"],
            "fps_steady": report["throughput"]["fps_steady"], "end_to_end_p50_ms": e2e.get("p50_ms"),
            "end_to_end_p95_ms": e2e.get("p95_ms"), "rx_decode_p50_ms": report["links"].get("rx_decode", {}).get("p50_ms"),
            "mjpeg_frames_per_viewer": [c[0] for c in counts]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scheme", default="deepjscc")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--viewers", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("results/viewer_overhead.json"))
    ns = p.parse_args()
    cases = []
    for viewers in (None, 0, ns.viewers):
        case = run_case(viewers, ns)
        cases.append(case)
        label = "viewer off" if viewers is None else f"{viewers} viewers"
        print(f"{label:<12} {case['fps_steady']:.2f} fps, end-to-end p50/p95 {case['end_to_end_p50_ms']:.1f}/"
              f"{case['end_to_end_p95_ms']:.1f} ms, MJPEG frames per viewer {case['mjpeg_frames_per_viewer']}", flush=True)
    base = cases[0]
    result = {"command": " ".join(sys.argv), "hardware": hardware.describe(), "scheme": ns.scheme, "size": ns.size,
              "frames": ns.frames, "flow": "flow-controlled (fps 0: as fast as the pipeline takes frames), stop-and-wait",
              "cases": cases,
              "fps_ratio_viewers_vs_off": cases[-1]["fps_steady"] / base["fps_steady"],
              "p95_ratio_viewers_vs_off": cases[-1]["end_to_end_p95_ms"] / base["end_to_end_p95_ms"]}
    write_result(ns.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
