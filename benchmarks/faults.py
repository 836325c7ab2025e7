"""Faults, measured: each service in turn killed with SIGKILL mid-stream and started again after
``--gap`` seconds (shared.bench.faults), per scheme: time from the restart to the first frame shown,
frames shown and the transmitter's outage records. Written as JSON, with the hardware.

    python benchmarks/faults.py --schemes digital,deepjscc --out results/faults.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.bench import hardware  # noqa: E402
from shared.bench.faults import fault_run  # noqa: E402

SCHEME_ARGV = {  # 64x64 frames; digital with a short LDPC code so it decodes at the source's pace
    "digital": ["--scheme", "digital", "--param", "cbr=0.25", "--param", "link.modulation=qpsk",
                "--param", "link.code_rate=0.5", "--param", "link.ldpc_k=1024"],
    "deepjscc": ["--scheme", "deepjscc"],
    "lrisc": ["--scheme", "lrisc"],
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schemes", default="digital,deepjscc")
    p.add_argument("--targets", default="proxy,receiver,transmitter")
    p.add_argument("--gap", type=float, default=2.0, help="seconds between the kill and the restart")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--standby", default="no,yes", help="no: a fresh process restarts; yes: a warm spare takes over")
    p.add_argument("--out", type=Path, default=Path("results/faults.json"))
    ns = p.parse_args()
    runs = []
    cases = [(scheme, target, standby == "yes") for scheme in ns.schemes.split(",")
             for target in ns.targets.split(",") for standby in ns.standby.split(",")]
    for scheme, target, standby in cases:
        r = fault_run(target, scheme_argv=SCHEME_ARGV[scheme], fps=ns.fps, gap_s=ns.gap, standby=standby)
        r["scheme"] = scheme
        runs.append(r)
        print(f"{scheme:<9} {target:<12} {'spare' if standby else 'fresh'}: frames again {r['recovered_s']} s after "
              f"the restart ({r['outage_s']} s after the kill); outages {r['transmitter_outages']}", flush=True)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps({"command": " ".join(sys.argv), "hardware": hardware.describe(), "runs": runs}, indent=2))
    print(f"written to {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
