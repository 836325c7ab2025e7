#!/usr/bin/env bash
# The semantic schemes with the real extractors of the hub beside the embedded ones, on the corpus's fixed
# validation split (first 8 photos) at 256x256, AWGN 0/10/20 dB: spic with SLIC regions vs ESPNetv2-VOC
# classes, keyregion with LBP faces + saliency vs YuNet faces, digital at spic's bits per pixel; every row
# also re-segmented by ESPNetv2-VOC (mIoU against the original's map: SPIC's semantic-preservation measure).
# Needs SEMCOM_HUB_DIR=../shared/hub (ESPNetv2, YuNet) and the corpus beside the checkout.
#   -> results/eval_semantic_hub/{results.csv,summary.csv,snr_awgn.png,contact_awgn.png}
#   resumes if interrupted; --fresh through "$@" starts over
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export SEMCOM_HUB_DIR="${SEMCOM_HUB_DIR:-../shared/hub}"

semcom eval --schemes spic,keyregion,digital --channel awgn --snr-db 0:20:10 \
    --param spic:segmenter=regions-slic,espnetv2-voc --param keyregion:key_regions=faces-saliency,yunet \
    --param digital:cbr=0.03125 --metric miou_voc \
    --images corpus:../shared/corpus --limit 8 --size 256 --seed 0 --sheet-images 3 --out results/eval_semantic_hub "$@"
