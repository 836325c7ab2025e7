"""Scale-out, measured: N streams (``semcom demo --streams N``) into one receiver that decodes in its
own process, or on 1 or 2 Ray Serve replicas of a local Ray cluster that this script starts on
127.0.0.1. Aggregate fps (frames shown per second, all streams) and end-to-end p50/p95 per case,
side by side in one run, as JSON; ``--plot`` draws fps and p95 against streams.

    python benchmarks/scaleout.py --streams 1,2,4,8 --replicas 1,2 --frames 24 --out results/scaleout.json \\
        --plot docs/img/scaleout.png
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.bench import hardware  # noqa: E402
from shared.bench.results import write_result  # noqa: E402
from shared.config import RAY_LOOPBACK  # noqa: E402
from shared.launcher import local_ray_head  # noqa: E402


def run_case(streams: int, replicas: int | None, address: str | None, ns) -> dict:
    """One demo run; replicas None: decoded in the receiver's process."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "shared.cli", "demo", "--scheme", ns.scheme, "--size", str(ns.size),
                "--frames", str(ns.frames), "--streams", str(streams), "--viewer", "off", "--no-standby",
                "--report", str(report_path)]
        if replicas:
            argv += ["--ray", address, "--ray-replicas", str(replicas), "--ray-cpus", str(ns.cpus_per_replica),
                     "--ray-max-batch", str(ns.max_batch), "--ray-batch-wait-ms", str(ns.batch_wait_ms)]
        t0 = time.monotonic()
        done = subprocess.run(argv, env={**os.environ, **RAY_LOOPBACK}, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
        report = json.loads(report_path.read_text())
    e2e = report["links"].get("end_to_end", {})
    streams_ok = all(s["lost"] == 0 and s["in_order"] for s in report.get("streams", {}).values())
    return {"streams": streams, "decoding": f"ray x{replicas}" if replicas else "in process", "replicas": replicas,
            "frames_received": report["frames"]["received"], "frames_sent": report["frames"]["sent"],
            "fps": report["throughput"]["fps_steady"], "end_to_end_p50_ms": e2e.get("p50_ms"),
            "end_to_end_p95_ms": e2e.get("p95_ms"),
            "decode_p50_ms": report["links"].get("ray_decode", report["links"].get("rx_decode", {})).get("p50_ms"),
            "mean_batch": report.get("receiver_decoding", {}).get("mean_batch"),
            "frames_by_replica": report.get("receiver_decoding", {}).get("frames_by_replica"),
            "all_in_order_none_lost": streams_ok, "wall_s": time.monotonic() - t0}


def plot(cases: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_fps, ax_p95) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label in dict.fromkeys(c["decoding"] for c in cases):
        rows = [c for c in cases if c["decoding"] == label]
        ax_fps.plot([c["streams"] for c in rows], [c["fps"] for c in rows], "o-", label=label)
        ax_p95.plot([c["streams"] for c in rows], [c["end_to_end_p95_ms"] for c in rows], "o-", label=label)
    for ax, ylabel in ((ax_fps, "aggregate fps (all streams)"), (ax_p95, "end-to-end p95 (ms)")):
        ax.set_xlabel("streams")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scheme", default="deepjscc")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=24, help="frames per stream")
    p.add_argument("--streams", default="1,2,4,8", help="stream counts, comma-separated")
    p.add_argument("--replicas", default="1,2", help="Ray replica counts, comma-separated (each beside in-process)")
    p.add_argument("--cpus-per-replica", type=float, default=0.5)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--batch-wait-ms", type=float, default=5.0)
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs the local Ray cluster offers")
    p.add_argument("--no-local", action="store_true", help="only the Ray cases (e.g. a sweep of --batch-wait-ms)")
    p.add_argument("--out", type=Path, default=Path("results/scaleout.json"))
    p.add_argument("--plot", type=Path, default=None)
    ns = p.parse_args()
    streams = [int(s) for s in ns.streams.split(",")]
    replicas = [int(r) for r in ns.replicas.split(",")]
    cases = []
    with local_ray_head(ns.ray_cpus) as address:
        for n in streams:
            for r in ([] if ns.no_local else [None]) + replicas:
                case = run_case(n, r, address, ns)
                cases.append(case)
                print(f"{n} stream(s), {case['decoding']:<10}: {case['fps']:.2f} fps, end-to-end p50/p95 "
                      f"{case['end_to_end_p50_ms']:.0f}/{case['end_to_end_p95_ms']:.0f} ms, mean batch "
                      f"{case['mean_batch']:.2f}, {case['frames_received']}/{case['frames_sent']} frames, "
                      f"in order and none lost: {case['all_in_order_none_lost']}", flush=True)
    result = {"command": " ".join(sys.argv), "hardware": hardware.describe(), "scheme": ns.scheme, "size": ns.size,
              "frames_per_stream": ns.frames, "flow": "flow-controlled, stop-and-wait per stream (window 1)",
              "ray": {"cluster_cpus": ns.ray_cpus, "cpus_per_replica": ns.cpus_per_replica, "max_batch": ns.max_batch,
                      "batch_wait_ms": ns.batch_wait_ms}, "cases": cases}
    write_result(ns.out, result)
    if ns.plot:
        plot(cases, ns.plot, f"{ns.scheme} {ns.size}x{ns.size}, {hardware.describe().get('cpu', 'CPU')}, "
                             f"{hardware.describe().get('cores')} cores, no GPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
