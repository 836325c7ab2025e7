#!/usr/bin/env bash
# lrisc (TAEF2, the receiver-tuned decoder) and deepjscc at each photo's own size (semcom eval --size 0: padded to the
# codec's multiple, cropped back), CBR 1/48, AWGN at 0 / 4 / 8 dB (SwinJSCC's published Kodak points) and 10 dB (NTSCC's),
# on the corpus's fixed validation split (57 photos, 200x200 to 384x638; no trainer reads them).
# Needs SEMCOM_HUB_DIR=../shared/hub (TAEF2) and the corpus beside the checkout.
#   -> results/eval_native/{results.csv,summary.csv,...}; resumes; --fresh starts over; --limit N for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"

semcom eval --schemes lrisc,deepjscc --channel awgn --snr-db 0,4,8,10 --param cbr=0.0208333 \
    --param lrisc:codec=taef2 \
    --images corpus:../shared/corpus --size 0 --seed 0 --sheet-images 3 --out results/eval_native "$@"
