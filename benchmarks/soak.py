"""A soak: ``--frames`` frames through the three real services, each one's resident memory sampled
as the stream runs, and the slope of memory against frames after a warm-up, per service.

The reliability issue's target: under 1 KiB per 1,000 frames after warm-up. The receiver writes
each frame as a PNG (which is also how frames are counted); the transmitter streams as fast as the
pipeline takes frames (flow-controlled, a window of 2). Written as JSON, with the hardware.

    python benchmarks/soak.py --frames 10000 --scheme deepjscc --size 32 --out results/soak.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.bench import hardware  # noqa: E402
from shared.launcher import PIPELINE_ORDER, ServiceProcesses  # noqa: E402

SAMPLE_S = 2.0  # how often memory and frames are sampled


def rss_kib(pid: int, field: str = "VmRSS") -> int | None:
    """A process's resident memory from /proc: VmRSS (all), RssAnon (heap and stacks: what a leak grows)
    or RssFile (pages of mapped files, e.g. shared libraries paged in as new code runs)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def slope_kib_per_1000(frames: list[int], rss: list[int]) -> float | None:
    """Least-squares slope of resident memory (KiB) against frames, per 1,000 frames."""
    if len(frames) < 3 or max(frames) == min(frames):
        return None
    return float(np.polyfit(np.asarray(frames, float), np.asarray(rss, float), 1)[0] * 1000)


STEP_KIB = 256  # a rise this large between two samples (2 s) is a step, not a slope


def steps_and_plateau(frames: list[int], rss: list[int]) -> dict:
    """Steps of RSS (rises over STEP_KIB between consecutive samples) and the slope after the last one:
    a leak grows with every frame; a heap that settles steps once and stays flat."""
    steps = [{"frames": frames[i], "kib": rss[i] - rss[i - 1]} for i in range(1, len(rss)) if rss[i] - rss[i - 1] > STEP_KIB]
    after = next((i for i, f in enumerate(frames) if steps and f >= steps[-1]["frames"]), 0)
    return {"steps": steps, "plateau_from_frame": frames[after] if frames else None,
            "plateau_slope_kib_per_1000_frames": slope_kib_per_1000(frames[after:], rss[after:]),
            "plateau_frames": frames[-1] - frames[after] if frames else 0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--warmup", type=int, default=2_500, help="frames before the slope is measured (the trace fills first)")
    p.add_argument("--scheme", default="deepjscc")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--param", action="append", default=[])
    p.add_argument("--out", type=Path, default=Path("results/soak.json"))
    ns = p.parse_args()
    scheme_argv = ["--scheme", ns.scheme, *[a for kv in ns.param for a in ("--param", kv)]]
    samples: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="semcom-soak-") as tmp, ServiceProcesses() as services:
        out = Path(tmp) / "frames"
        argv = {"receiver": ["--exit-on-eos", "--out", str(out)], "proxy": ["--exit-on-eos"],
                "transmitter": ["--source", "builtin", "--frames", str(ns.frames), "--size", str(ns.size),
                                "--fps", "0", "--window", "2", *scheme_argv]}
        for name in PIPELINE_ORDER:
            services.start(name, argv[name])
        t0 = time.monotonic()
        while any(services.procs[n].poll() is None for n in PIPELINE_ORDER):
            if services.failed():
                raise SystemExit(f"the {services.failed()} failed: {services.reason(services.failed())}")
            shown = sum(1 for _ in out.glob("*.png")) if out.exists() else 0
            row = {"t_s": round(time.monotonic() - t0, 1), "frames": shown,
                   **{n: rss_kib(services.procs[n].pid) for n in PIPELINE_ORDER},
                   **{f"{n}_anon": rss_kib(services.procs[n].pid, "RssAnon") for n in PIPELINE_ORDER},
                   **{f"{n}_file": rss_kib(services.procs[n].pid, "RssFile") for n in PIPELINE_ORDER}}
            samples.append(row)
            print(json.dumps(row), flush=True)
            time.sleep(SAMPLE_S)
        services.wait(PIPELINE_ORDER, 60)
        rx = services.stats("receiver")
    steady = [s for s in samples if s["frames"] >= ns.warmup and all(s[n] for n in PIPELINE_ORDER)]
    result = {
        "command": " ".join(sys.argv), "hardware": hardware.describe(), "frames": ns.frames, "warmup_frames": ns.warmup,
        "scheme": ns.scheme, "size": ns.size, "frames_received": rx.get("counters", {}).get("frames_received"),
        "wall_s": samples[-1]["t_s"] if samples else None,
        "slope_kib_per_1000_frames": {n: slope_kib_per_1000([s["frames"] for s in steady], [s[n] for s in steady])
                                      for n in PIPELINE_ORDER},  # VmRSS
        "slope_anon_kib_per_1000_frames": {n: slope_kib_per_1000([s["frames"] for s in steady], [s[f"{n}_anon"] for s in steady])
                                           for n in PIPELINE_ORDER},  # RssAnon: the heap
        "slope_file_kib_per_1000_frames": {n: slope_kib_per_1000([s["frames"] for s in steady], [s[f"{n}_file"] for s in steady])
                                           for n in PIPELINE_ORDER},  # RssFile: mapped files paged in
        "steps_and_plateau_anon": {n: steps_and_plateau([s["frames"] for s in steady], [s[f"{n}_anon"] for s in steady])
                                   for n in PIPELINE_ORDER},  # RssAnon: one-time steps, then the slope that is left
        "rss_kib_at_warmup": steady[0] if steady else None, "rss_kib_at_end": steady[-1] if steady else None,
        "target_kib_per_1000_frames": 1.0, "samples": samples,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("slope_kib_per_1000_frames", "slope_anon_kib_per_1000_frames",
                                             "slope_file_kib_per_1000_frames")}), f"written to {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
