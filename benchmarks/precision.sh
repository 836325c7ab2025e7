#!/usr/bin/env bash
# The receivers' networks at fp32 and int8 side by side in one run: quality and decode time from `semcom eval`
# (the same images, channel and symbols for every precision), then the size of each network per precision.
# deepjscc, lrisc on the embedded codec (JSCC + one UNet step + latent decoder) and, where TAEF2's files are
# (SEMCOM_HUB_DIR), lrisc on TAEF2 (JSCC + TAEF2 decoder). fp16 / bf16 are GPU precisions: see gpu_bench.sh.
# Images: the corpus validation split (first 16 photos) when ../shared/corpus is there, else the builtin photos.
#   -> results/precision/{summary.csv,...} and results/precision.json
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"
images=builtin
[ -d ../shared/corpus/photos ] && images=corpus:../shared/corpus
codecs=embedded
[ -f "$SEMCOM_HUB_DIR/madebyollin/taef2/taef2_decoder.pth" ] && codecs=embedded,taef2
semcom eval --schemes deepjscc,lrisc --param precision=fp32,int8 --param lrisc:codec="$codecs" --channel awgn --snr-db 0:20:10 \
    --images "$images" --limit 16 --size 256 --seed 0 --sheet-images 0 --out results/precision "$@"
python - <<'PY'
import csv, json, statistics
from pathlib import Path
import torch
from shared.bench.hardware import cpu_model
from shared.bench.results import write_result
from shared.nets.precision import saved_bytes
from shared.nets.quantize import jscc_decoder
from shared.schemes import lrisc_nets
from shared.schemes.lrisc import LriscParams, LriscReceive

def networks(point, precision):
    """The networks a point's receiver runs at a precision -> {name: module}."""
    if point.startswith("deepjscc"):
        return {"jscc_decoder": jscc_decoder("deepjscc", precision)}
    p = LriscParams(codec="taef2" if "codec=taef2" in point else "embedded", precision=precision)
    codec = LriscReceive(p).codec  # the latent decoder this receiver runs
    nets = {"jscc_decoder": lrisc_nets.jscc_decoder_at(p.jscc_weights, p.codec, precision, "cpu"),
            "latent_decoder": lrisc_nets.pixel_decoder_at(codec, p.jscc_weights, precision, "cpu")}
    if p.steps:
        nets["unet"] = lrisc_nets.denoiser_at(p.diffusion_weights, precision, "cpu")
    return nets

rows = list(csv.DictReader(open("results/precision/summary.csv")))
keys = ("psnr_db", "ms_ssim", "effnet_dist", "decode_ms")
out = {"hardware": {"cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "int8_engine": torch.backends.quantized.engine}, "points": {}}
for point in sorted({r["point"] for r in rows}):
    mine = [r for r in rows if r["point"] == point]
    precision = "int8" if "precision=int8" in point else "fp32"
    sizes = {name: saved_bytes(m) for name, m in networks(point, precision).items()}
    out["points"][point] = {"precision": precision, "network_bytes": sizes, "total_bytes": sum(sizes.values()),
                            "by_snr": {r["snr_db"]: {k: float(r[k]) for k in keys} for r in mine},
                            "mean": {k: statistics.fmean(float(r[k]) for r in mine) for k in keys}}
write_result(Path("results/precision.json"), out)
print(json.dumps({p: {"MB": round(v["total_bytes"] / 1e6, 2), **{k: round(x, 3) for k, x in v["mean"].items()}}
                  for p, v in out["points"].items()}, indent=1))
PY
