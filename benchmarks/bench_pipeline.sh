#!/usr/bin/env bash
# The README's speed numbers, made by `semcom bench`: the default `lrisc` scheme at 256x256
# over AWGN at 10 dB.
#   - the real three-process pipeline over TCP loopback, 30 frames in each mode:
#     throughput (3 frames in flight: sustained fps) and latency (stop-and-wait: per-link p50/p95/p99);
#   - the proxy's raw symbol throughput beside plain ZeroMQ with the same bytes (200 frames);
#   - every scheme's encode and decode time per 256x256 frame (median of 10);
#   - the hardware.
#   -> results/bench.json, and the tables on the terminal  (about 2 minutes on 2 CPU cores)
# Extra options pass through "$@", e.g. --frames 100 or --parts pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

semcom bench --scheme lrisc --size 256 --frames 30 --channel awgn --snr-db 10 \
    --proxy-messages 200 --repeats 10 --out results/bench.json "$@"
