#!/usr/bin/env bash
# LRISC in the TAEF2 latent space against DeepJSCC (and the embedded-codec lrisc) at the same channel uses,
# CBR 1/48 and 1/96, on the corpus's fixed validation split (57 photos no trainer reads) at 256x256,
# AWGN and Rayleigh (one fade per frame), 0-20 dB. Needs TAEF2's files: SEMCOM_HUB_DIR=../shared/hub
# (or `semcom models fetch taef2`), and the corpus beside the checkout.
#   -> results/eval_taef2/{results.csv,summary.csv,snr_awgn.png,snr_rayleigh.png,contact_*.png}
# lrisc runs with the receiver-tuned TAEF2 decoder and with TAEF2's own (decoder=tuned,plain) where the tuned one ships.
# LENGTHS=uniform,content adds the content-adaptive lengths (twice the lrisc runs; the README's content rows).
#   resumes if interrupted; --fresh through "$@" starts over; --limit N for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"
lengths="${LENGTHS:-uniform}"
decoders="plain"
[ -f shared/weights/lrisc_taef2_decoder.safetensors ] && decoders="tuned,plain"

semcom eval --schemes lrisc,deepjscc --channel awgn,rayleigh --snr-db 0:20:5 \
    --param cbr=0.0208333,0.0104167 --param lrisc:codec=taef2 --param lrisc:length="$lengths" --param lrisc:decoder="$decoders" \
    --images corpus:../shared/corpus --size 256 --seed 0 --sheet-images 3 --out results/eval_taef2 "$@"
