#!/usr/bin/env bash
# The README's results table for every scheme, made by `semcom eval`: spic, keyregion and full (the
# semantic generator, default 4 DDIM steps) beside lrisc, deepjscc (CBR 1/48) and digital fitted to
# spic's bits per pixel (CBR 1/32: three 16-QAM r1/2 LDPC blocks, 1,504 bytes), on the six
# scikit-image validation photos at 256x256, AWGN and Rayleigh (one fade per frame), 0-20 dB.
#   -> results/eval_semantic/{results.csv,summary.csv,snr_awgn.png,snr_rayleigh.png,contact_*.png}
#   (resumes if interrupted; --fresh through "$@" starts over)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

semcom eval --schemes spic,keyregion,full,lrisc,deepjscc,digital --channel awgn,rayleigh --snr-db 0:20:5 \
    --param digital:cbr=0.03125 \
    --images builtin --size 256 --seed 0 --sheet-images 3 --out results/eval_semantic "$@"
