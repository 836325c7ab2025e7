"""The PHY against theory: uncoded QPSK BER (AWGN, Rayleigh with equalisation) and
the 5G LDPC cliff, simulated through the project's own chain. Writes JSON.

    python benchmarks/phy_theory.py --out results/phy_theory.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from shared.phy import linksim
from shared.phy.link import LinkConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/phy_theory.json"))
    ap.add_argument("--bits", type=int, default=1_000_000)
    ap.add_argument("--blocks", type=int, default=500)
    args = ap.parse_args()
    t0 = time.time()
    ber = []
    for model, theory, snrs in (("awgn", linksim.qpsk_ber_awgn, (0, 4, 8)),
                                ("rayleigh", linksim.qpsk_ber_rayleigh, (0, 10, 20))):
        for snr in snrs:
            sim = linksim.uncoded_ber("qpsk", model, snr, args.bits, seed=snr)
            ref = theory(snr)
            ber.append({"channel": model, "snr_db": snr, "ber": sim, "theory": ref, "rel_err": sim / ref - 1})
    bler = []
    for name, cfg in (("qpsk r1/2 k1024", LinkConfig(modulation="qpsk", code_rate=0.5, ldpc_k=1024)),
                      ("16qam r1/2 k4096 (digital default)", LinkConfig())):
        th = linksim.bler_threshold_db(cfg)
        points = {f"{d:+.0f}": linksim.coded_bler(cfg, "awgn", th + d, args.blocks, seed=int(10 * d) + 50)
                  for d in (-2, -1, 0, 1, 2)}
        bler.append({"code": name, "threshold_db": th, "bler_at_threshold_offset_db": points})
    result = {"hardware": f"{platform.processor() or platform.machine()}, {platform.system()}",
              "uncoded_qpsk_ber": ber, "ldpc_bler_awgn": bler, "wall_s": time.time() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for row in ber:
        print(f"QPSK {row['channel']:<8} {row['snr_db']:>3} dB  BER {row['ber']:.5f}  theory {row['theory']:.5f}  ({100 * row['rel_err']:+.1f}%)")
    for row in bler:
        pts = "  ".join(f"{k} dB: {v:.3f}" for k, v in row["bler_at_threshold_offset_db"].items())
        print(f"{row['code']}: threshold {row['threshold_db']:.2f} dB; BLER {pts}")


if __name__ == "__main__":
    main()
