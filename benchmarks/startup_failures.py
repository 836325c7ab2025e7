"""How long each failing start-up takes to end (the streaming issue's list), written as JSON.

Each case runs ``semcom demo`` with a command line that cannot stream, and records the wall time,
the exit code and the one error line; run it on a quiet machine (the time is mostly importing
torch and Sionna in three processes at once).

    python benchmarks/startup_failures.py --out results/startup_failures.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "digital budget too small (cbr=0.0005)": ["--scheme", "digital", "--param", "cbr=0.0005"],
    "digital link.code_rate=0.33": ["--scheme", "digital", "--param", "link.code_rate=0.33"],
    "keyregion link.code_rate=0.33": ["--scheme", "keyregion", "--param", "link.code_rate=0.33"],
    "hub segmenter missing (spic segmenter=segformer-b0-ade)": ["--scheme", "spic", "--param", "segmenter=segformer-b0-ade"],
    "hub generator missing at the receiver (spic generator=hub)": ["--scheme", "spic", "--param", "generator=hub"],
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/startup_failures.json"))
    ns = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from shared.bench import hardware

    rows = {}
    for name, argv in CASES.items():
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "shared.cli", "demo", "--frames", "3", *argv],
                              capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - t0
        errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
        rows[name] = {"argv": argv, "wall_s": round(wall, 2), "exit_code": proc.returncode,
                      "error_lines": len(errors), "error": errors[-1][:300] if errors else None,
                      "traceback": "Traceback" in proc.stderr}
        print(f"{wall:6.1f} s  exit {proc.returncode}  {name}: {rows[name]['error']}", flush=True)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps({"hardware": hardware.describe(), "cases": rows}, indent=2))
    print(f"written to {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
