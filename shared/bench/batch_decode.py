"""Decode throughput by batch size: frames of several streams decoded together, on the CPU or a GPU.

Each of ``max(batch_sizes)`` streams encodes its own frame (its own stream id, as cameras do), the
frames go through the channel once, and the receiver's back half
(:meth:`~shared.pipeline.FrameDecoder.reconstruct_batch`: what a Ray Serve replica runs on a
batch) decodes the first ``b`` of them together, ``repeats`` times per batch size. Stateless
schemes (``deepjscc``, ``lrisc``) share one decoder across streams, so their networks see the whole
batch in one pass; the semantic schemes keep per-stream state and decode stream by stream. Reported
per batch size: p50 / p95 milliseconds per batch, frames per second (``b`` / p50), and on CUDA the
peak GPU memory. Equalisation and the channel are outside the clock.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from tqdm import tqdm

from shared.config import ChannelConfig
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_batches(scheme: str, params: dict, frames: list[np.ndarray], channel: ChannelConfig, batch_sizes: list[int],
                 repeats: int, warmup: int, device: str) -> dict:
    """-> {"params", "batches": {b: {p50_ms, p95_ms, fps, failures, gpu_peak_mb}}}; ValueError if a frame cannot be coded."""
    streams = max(batch_sizes)
    stage = ChannelStage(channel.model_copy(update={"erasure": 0.0}))
    decoder = FrameDecoder(max_streams=streams + 1)
    items, encoder = [], None
    for i in range(streams):
        encoder = FrameEncoder(scheme, params, stream_id=f"bench-{i}")
        header, payloads, _ = encoder.encode(frames[i % len(frames)], 0)
        header, faded, _ = stage.process(header, payloads)
        items.append((header, decoder.equalised(header, faded)))
    out: dict = {}
    for b in batch_sizes:
        for _ in range(warmup):  # loads the models, builds the codes, lets cuDNN pick its kernels
            decoder.reconstruct_batch(items[:b])
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times, failures = [], 0
        for _ in tqdm(range(repeats), desc=f"batch {scheme} x{b}", unit="batch", leave=False, dynamic_ncols=True):
            _sync(device)
            t0 = time.perf_counter()
            results = decoder.reconstruct_batch(items[:b])
            _sync(device)
            times.append(1000.0 * (time.perf_counter() - t0))
            failures += sum(isinstance(r, Exception) for r in results)
        p50 = statistics.median(times)
        out[str(b)] = {"p50_ms": p50, "p95_ms": float(np.percentile(times, 95)), "fps": 1000.0 * b / p50,
                       "failures": failures, "repeats": repeats,
                       "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None}
    return {"params": encoder.params.model_dump(mode="json"), "batches": out}


def format_batches(results: dict[str, dict], device: str) -> str:
    rows = [f"decode by batch size, {device}: p50 / p95 ms per batch, frames/s",
            f"{'scheme':<12}{'batch':>6}{'p50 ms':>10}{'p95 ms':>10}{'fps':>9}{'GPU MB':>9}{'failed':>8}"]
    for name, r in results.items():
        if "error" in r:
            rows.append(f"{name:<12} {r['error']}")
            continue
        for b, m in r["batches"].items():
            mem = f"{m['gpu_peak_mb']:>9.0f}" if m["gpu_peak_mb"] is not None else f"{'-':>9}"
            rows.append(f"{name:<12}{b:>6}{m['p50_ms']:>10.1f}{m['p95_ms']:>10.1f}{m['fps']:>9.1f}{mem}{m['failures']:>8}")
    return "\n".join(rows)
