#!/usr/bin/env bash
# The semantic schemes on TAEF2 (codec=taef2: spic, keyregion, full) beside lrisc (TAEF2), deepjscc and digital, on the
# corpus's fixed validation split (first 8 photos) at 256x256, AWGN and Rayleigh 0-20 dB: CBR, bpp, PSNR, effnet_dist,
# top-1 agreement, mIoU (re-segmented by ESPNetv2-VOC) and PSNR inside / outside the YuNet key mask.
# digital runs at spic's bits per pixel (CBR 1/32: 0.18 bpp against spic's 0.16); lrisc at 1/48 (its default) and at
# 1/32 with a fixed rate (about keyregion's channel uses). keyregion runs with its JSCC background (the default on TAEF2,
# 16 of 64 maps) and with the generated one (background=generate: caption + 8 x 8 thumbnail); a second run measures
# the JSCC background at 8 maps (-> results/eval_keyregion_maps8).
# Needs SEMCOM_HUB_DIR=../shared/hub (TAEF2, ESPNetv2, YuNet) and the corpus beside the checkout.
#   -> results/eval_semantic_taef2/{results.csv,summary.csv,snr_*.png,contact_*.png}; resumes; --fresh starts over
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"

semcom eval --schemes spic,keyregion,full,lrisc,deepjscc,digital --channel awgn,rayleigh --snr-db 0:20:5 \
    --param spic:codec=taef2 --param keyregion:codec=taef2 --param keyregion:background=jscc,generate --param full:codec=taef2 \
    --param lrisc:codec=taef2 --param lrisc:cbr=0.020833,0.03125 --param lrisc:rate_policy=fixed \
    --param digital:cbr=0.03125 --metric miou_voc --metric psnr_key --metric psnr_rest \
    --images corpus:../shared/corpus --limit 8 --size 256 --seed 0 --sheet-images 3 --out results/eval_semantic_taef2 "$@"

semcom eval --schemes keyregion --channel awgn,rayleigh --snr-db 0:20:5 --param keyregion:codec=taef2 \
    --param keyregion:background_maps=8 --metric psnr_key --metric psnr_rest \
    --images corpus:../shared/corpus --limit 8 --size 256 --seed 0 --sheet-images 3 --out results/eval_keyregion_maps8 "$@"
