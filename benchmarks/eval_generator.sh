#!/usr/bin/env bash
# Does the diffusion earn its place? lrisc on TAEF2 with its one-step generator (steps=1, from z_hat noised to the level
# of its remaining error) against the same receiver with steps=0 (the JSCC and the tuned decoder alone), CBR 1/48 and
# 1/96, on the corpus's fixed validation split (57 photos no trainer reads) at 256x256, AWGN and Rayleigh, 0-20 dB.
# The quality issue's target: at 0-10 dB effnet_dist at least 15% below steps=0, top-1 agreement no worse.
# Needs TAEF2's files (SEMCOM_HUB_DIR=../shared/hub) and shared/weights/lrisc_taef2_diffusion.safetensors
# (semcom train lrisc-taef2 --stage generator, then --export).
#   -> results/eval_generator/{results.csv,summary.csv,snr_*.png,contact_*.png}; resumes; --fresh starts over
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"

semcom eval --schemes lrisc --channel awgn,rayleigh --snr-db 0:20:5 \
    --param cbr=0.0208333,0.0104167 --param lrisc:codec=taef2 --param lrisc:steps=0,1 \
    --images corpus:../shared/corpus --size 256 --seed 0 --sheet-images 3 --out results/eval_generator "$@"
