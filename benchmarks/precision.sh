#!/usr/bin/env bash
# DeepJSCC's decoder at fp32 and int8 side by side in one run: quality and decode time from `semcom eval`
# (the same images, channel and symbols for both), then the size on disk and in memory of each decoder.
# Images: the corpus validation split (first 16 photos) when ../shared/corpus is there, else the builtin photos.
#   -> results/precision/{summary.csv,...} and results/precision.json
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
images=builtin
[ -d ../shared/corpus/photos ] && images=corpus:../shared/corpus
semcom eval --schemes deepjscc --param deepjscc:precision=fp32,int8 --channel awgn --snr-db 0:20:10 \
    --images "$images" --limit 16 --size 256 --seed 0 --sheet-images 0 --out results/precision "$@"
python - <<'PY'
import csv, io, json, statistics
import torch
from shared.bench.hardware import cpu_model
from shared.bench.results import write_result
from shared.nets.quantize import jscc_decoder
from shared.nets.weights_file import WEIGHTS_DIR

def saved_bytes(m):
    buf = io.BytesIO(); torch.save(m.state_dict(), buf); return len(buf.getvalue())

rows = list(csv.DictReader(open("results/precision/summary.csv")))
out = {"hardware": {"cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "int8_engine": torch.backends.quantized.engine},
       "weights_file_bytes": (WEIGHTS_DIR / "deepjscc.safetensors").stat().st_size, "precisions": {}}
for precision in ("fp32", "int8"):
    mine = [r for r in rows if r["point"].endswith(f"precision={precision}")]
    dec = jscc_decoder("deepjscc", precision)
    out["precisions"][precision] = {
        "decoder_saved_bytes": saved_bytes(dec),
        "by_snr": {r["snr_db"]: {k: float(r[k]) for k in ("psnr_db", "ms_ssim", "effnet_dist", "decode_ms")} for r in mine},
        "mean": {k: statistics.fmean(float(r[k]) for r in mine) for k in ("psnr_db", "ms_ssim", "effnet_dist", "decode_ms")},
    }
write_result(__import__("pathlib").Path("results/precision.json"), out)
print(json.dumps({p: {"saved_MB": v["decoder_saved_bytes"] / 1e6, **{k: round(x, 3) for k, x in v["mean"].items()}}
                  for p, v in out["precisions"].items()}, indent=1))
PY
