#!/usr/bin/env bash
# The deployment issue's GPU check, in one go (about 3-5 minutes on one GPU, most of it model loading):
#   1. decode throughput by batch size (1 and 8 streams decoded together) for lrisc (TAEF2, fp16 = precision=auto on
#      CUDA), deepjscc and the semantic schemes: p50 / p95 ms per batch, frames/s, peak GPU memory;
#   2. lrisc at fp32 and bf16 beside it, the same way, and under torch.compile (CUDA graphs, compile=true);
#   3. every scheme's encode / channel / decode time per frame (median of 20).
# Needs a CUDA GPU (semcom bench --device cuda refuses to run without one) and SEMCOM_HUB_DIR with TAEF2 (and
# ESPNetv2 / YuNet for the semantic schemes' TAEF2 path).
#   -> results/gpu_bench/{batch.json,lrisc_fp32.json,lrisc_bf16.json,lrisc_compiled.json}
set -euo pipefail
cd "$(dirname "$0")/.."
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"
out="${1:-results/gpu_bench}"
mkdir -p "$out"
common=(--device cuda --size 256 --batch-sizes 1,8 --repeats 20 --warmup 3)

semcom bench --scheme lrisc --parts batch,codecs --schemes lrisc,deepjscc,spic,keyregion,full "${common[@]}" --out "$out/batch.json"
for precision in fp32 bf16; do
    semcom bench --scheme lrisc --param precision=$precision --parts batch --schemes lrisc "${common[@]}" --out "$out/lrisc_$precision.json"
done
# compile=true: the first frames of each batch size compile (warm-up 3 covers them), then CUDA graphs replay
semcom bench --scheme lrisc --param compile=true --parts batch --schemes lrisc "${common[@]}" --out "$out/lrisc_compiled.json"
