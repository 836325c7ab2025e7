#!/usr/bin/env bash
# The README's generative-core results, made by `semcom eval`: LRISC (its default, the JSCC alone: steps=0, and
# with one DDIM step of the embedded generator from z_hat noised to strength 0.02: steps=1) against DeepJSCC
# and the digital baseline at the same channel uses, CBR 1/48 (4,096 complex symbols per 256x256 frame), on the six
# scikit-image validation photos, AWGN and Rayleigh (one fade per frame), 0-20 dB.
#   -> results/eval_lrisc/{results.csv,summary.csv,snr_awgn.png,snr_rayleigh.png,contact_*.png}
#   (62 s for the 240 runs on 2 CPU cores; resumes if interrupted, --fresh through "$@" starts over)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

semcom eval --schemes lrisc,deepjscc,digital --channel awgn,rayleigh --snr-db 0:20:5 \
    --param lrisc:steps=0,1 --param digital:cbr=0.020834 \
    --images builtin --size 256 --seed 0 --sheet-images 3 --out results/eval_lrisc "$@"
