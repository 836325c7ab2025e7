"""Each scheme's encode, channel and decode time per frame, through the same
:class:`~shared.pipeline.FrameEncoder`, :class:`~shared.pipeline.ChannelStage`
and :class:`~shared.pipeline.FrameDecoder` that the services use, without sockets.

Model loading and code construction are paid in a warm-up outside the clock;
each time is the median over the repeats.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from tqdm import tqdm

from shared.config import ChannelConfig
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.schemes.base import DecodeFailure


def _ms(values: list[float]) -> dict:
    return {"median_ms": statistics.median(values), "min_ms": min(values), "max_ms": max(values)}


def time_scheme(scheme: str, params: dict, frames: list[np.ndarray], channel: ChannelConfig,
                repeats: int, warmup: int = 1) -> dict:
    """Time ``warmup + repeats`` frames (cycling through ``frames``, (H, W, 3) uint8) of one
    scheme; the warm-up rounds are not counted. Raises ValueError if the scheme cannot
    encode a frame of this size with these parameters."""
    encoder = FrameEncoder(scheme, params, stream_id="bench")
    stage = ChannelStage(channel.model_copy(update={"erasure": 0.0}))  # every frame reaches the decoder
    decoder = FrameDecoder()
    encoder.warmup(frames[0])
    times: dict[str, list[float]] = {"encode": [], "channel": [], "decode": []}
    failures, symbols = 0, 0
    for i in tqdm(range(warmup + repeats), desc=f"codec {scheme}", unit="frame", leave=False, dynamic_ncols=True):
        t0 = time.perf_counter()
        header, payloads, _ = encoder.encode(frames[i % len(frames)], i)
        t1 = time.perf_counter()
        header, faded, _ = stage.process(header, payloads)
        t2 = time.perf_counter()
        failed = False
        try:
            decoder.decode(header, faded)
        except DecodeFailure:
            failed = True  # a lost frame still costs its decoding time
        t3 = time.perf_counter()
        if i >= warmup:
            failures += failed
            for name, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[name].append(1000.0 * dt)
            symbols = header.n_symbols
    h, w = frames[0].shape[:2]
    return {
        "device": "cuda" if torch.cuda.is_available() else "cpu",  # the receivers' networks run on CUDA where there is one
        "height": h,
        "width": w,
        "params": encoder.params.model_dump(mode="json"),
        "repeats": repeats,
        "symbols_per_frame": symbols,
        "decode_failures": failures,
        **{name: _ms(values) for name, values in times.items()},
    }


def format_codecs(results: dict[str, dict]) -> str:
    rows = [f"{'scheme':<12}{'encode ms':>11}{'channel ms':>12}{'decode ms':>11}{'symbols':>9}{'failed':>8}"]
    for name, r in results.items():
        if "error" in r:
            rows.append(f"{name:<12} {r['error']}")
            continue
        rows.append(f"{name:<12}{r['encode']['median_ms']:>11.1f}{r['channel']['median_ms']:>12.2f}"
                    f"{r['decode']['median_ms']:>11.1f}{r['symbols_per_frame']:>9}{r['decode_failures']:>8}")
    return "\n".join(rows)
