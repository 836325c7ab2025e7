#!/usr/bin/env bash
# The README's quality results for the `digital` baseline, made by `semcom eval`.
#   1. the cliff: 6 builtin photos at 256x256, AWGN and Rayleigh (one fade per frame), 0-20 dB
#      -> results/eval_digital/{results.csv,summary.csv,snr_awgn.png,snr_rayleigh.png,contact_*.png}
#      (about 70 s on 2 CPU cores)
#   2. the rate sweep: three CBRs on AWGN around the cliff, plus metric-vs-CBR plots
#      -> results/eval_digital_rates/{cbr_awgn.png,snr_awgn.png,...}  (a few minutes)
# Both resume if interrupted; pass --fresh through "$@" to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

semcom eval --schemes digital --channel awgn,rayleigh --snr-db 0:20:5 \
    --images builtin --size 256 --seed 0 --out results/eval_digital "$@"

semcom eval --schemes digital --channel awgn --snr-db 2:14:2 --param digital:cbr=0.042,0.084,0.167 \
    --images builtin --size 256 --seed 0 --out results/eval_digital_rates "$@"
