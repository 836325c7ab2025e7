"""Run the grid: encode -> channel -> decode through :mod:`shared.pipeline`, then measure.

One encode serves every channel and SNR of a (point, image, repeat), as the transmitter would
send the same frame whatever the channel does. Each job decodes with a fresh
:class:`FrameDecoder`, so no receiver state (a last good frame, kept side information) leaks
from one job into another: a lost frame shows mid-grey, as the receiver shows before its first
good frame, and the row records ``decode_ok=False``.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from tqdm import tqdm

from shared.cli import UsageError
from shared.config import ChannelConfig
from shared.evaluate.grid import Job, SchemePoint
from shared.evaluate.store import RunStore
from shared.metrics import DEFAULT_METRICS, bpp, cbr, compute_all, to_tensor_batch
from shared.metrics.imagenet_label import true_class, true_label_hits
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.protocol import STREAM_ID_PATTERN, Header, header_bytes
from shared.schemes.base import DecodeFailure, Encoded

LOST_FRAME_GREY = 128  # what the receiver shows when it has no good frame (receiver/service.py)


@dataclass
class Sent:
    """What the transmitter produced for one (point, image, repeat)."""

    header: Header
    payloads: list[np.ndarray]  # one (n,) complex64 array per payload
    encoded: Encoded
    encode_ms: float


def recon_path(recon_dir: Path, job: Job) -> Path:
    """Where the contact sheet finds a job's reconstruction."""
    safe = job.point.label.replace(" ", "_").replace("/", "_")
    return recon_dir / f"{safe}__{job.channel}__{job.snr_db:g}dB__{job.image}.png"


def original_path(recon_dir: Path, image: str) -> Path:
    return recon_dir / f"original__{image}.png"


def save_rgb(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def stream_id(image: str, repeat: int) -> str:
    """One stream per image and channel draw (per-stream state never leaks between images), in the
    header's stream-id alphabet: the image's name where it fits, else a hash of it."""
    sid = f"eval-{image}-{repeat}"
    if re.fullmatch(STREAM_ID_PATTERN, sid):
        return sid
    return f"eval-{hashlib.sha1(image.encode('utf-8')).hexdigest()[:16]}-{repeat}"


class Runner:
    """Measures jobs; ``channel_config(model, snr_db)`` gives each job's channel."""

    def __init__(self, images: dict[str, np.ndarray], channel_config: Callable[[str, float], ChannelConfig],
                 store: RunStore, sheet_images: list[str], device: str = "cpu", extra_metrics: tuple[str, ...] = ()):
        self.images = images
        self.channel_config = channel_config
        self.store = store
        self.sheet_images = set(sheet_images)
        self.device = device
        self.metric_names = list(DEFAULT_METRICS) + list(extra_metrics)
        self._stages: dict[tuple[str, float], ChannelStage] = {}
        self._warm: set[str] = set()

    def _stage(self, channel: str, snr_db: float) -> ChannelStage:
        if (channel, snr_db) not in self._stages:
            self._stages[(channel, snr_db)] = ChannelStage(self.channel_config(channel, snr_db))
        return self._stages[(channel, snr_db)]

    def _warmup(self, point: SchemePoint, frame: np.ndarray) -> None:
        """Pay model loading and code construction once per point, outside the timings."""
        if point.label in self._warm:
            return  # warm already (every image has the same size)
        encoder = FrameEncoder(point.scheme, point.params, stream_id="warmup")
        try:
            encoder.warmup(frame)
            header, _, _ = encoder.encode(frame, 0)
        except ValueError as exc:  # an operating point the scheme cannot meet, e.g. a CBR below one code block
            raise UsageError(f"{point.label} at {frame.shape[1]}x{frame.shape[0]}: {exc}") from None
        FrameDecoder().prepare(header)
        self._warm.add(point.label)

    def _send(self, job: Job) -> Sent:
        frame = self.images[job.image]
        encoder = FrameEncoder(job.point.scheme, job.point.params, stream_id=stream_id(job.image, job.repeat))
        t0 = time.perf_counter()
        header, payloads, encoded = encoder.encode(frame, job.seq)
        return Sent(header, payloads, encoded, 1000 * (time.perf_counter() - t0))

    def _receive(self, job: Job, sent: Sent) -> tuple[np.ndarray, str, float, float | None]:
        """Channel, then decode -> (frame shown (H, W, 3) uint8, failure reason or "", channel ms, decode ms)."""
        t0 = time.perf_counter()
        header, faded, realization = self._stage(job.channel, job.snr_db).process(sent.header, sent.payloads)
        channel_ms = 1000 * (time.perf_counter() - t0)
        lost = np.full((sent.header.height, sent.header.width, 3), LOST_FRAME_GREY, np.uint8)
        if realization.erased:
            return lost, "erased on air", channel_ms, None
        t0 = time.perf_counter()
        try:
            shown, failure = FrameDecoder().decode(header, faded), ""
        except DecodeFailure as exc:
            shown, failure = lost, str(exc) or "decode failure"
        return shown, failure, channel_ms, 1000 * (time.perf_counter() - t0)

    def measure(self, job: Job, sent: Sent) -> dict:
        """One job -> its row: rate, timings, decode outcome and every metric."""
        original = self.images[job.image]
        h, w = original.shape[:2]
        shown, failure, channel_ms, decode_ms = self._receive(job, sent)
        metrics = compute_all(to_tensor_batch(original, self.device), to_tensor_batch(shown, self.device), self.metric_names)
        label = true_class(job.image)
        truth = dict(zip(("imagenet_top1", "imagenet_top5"), true_label_hits(to_tensor_batch(shown, self.device), label))) \
            if label is not None else {}  # only for images named after their ImageNet synset
        source_bits = sum(p.bits for p in sent.encoded.payloads)
        row = {
            "key": job.key, "scheme": job.point.scheme, "point": job.point.label, "channel": job.channel,
            "snr_db": job.snr_db, "image": job.image, "repeat": job.repeat, "seq": job.seq,
            "decode_ok": not failure, "failure": failure,
            "cbr": float(cbr(sent.header.n_symbols, h, w)), "bpp": float(bpp(source_bits, h, w)),
            "n_symbols": sent.header.n_symbols, "source_bits": source_bits,
            "header_bytes": len(header_bytes(sent.header)),
            "encode_ms": sent.encode_ms, "channel_ms": channel_ms, "decode_ms": decode_ms,
            **{name: float(value[0]) for name, value in metrics.items()}, **truth,
            **{f"info_{k}": v for k, v in sent.encoded.info.items() if isinstance(v, (int, float, str, bool))},
            "unavailable": dict(metrics.unavailable),
        }
        if job.image in self.sheet_images and job.repeat == 0:
            save_rgb(recon_path(self.store.recon_dir, job), shown)
        return row

    def run(self, jobs: list[Job]) -> None:
        """Measure every job not yet in the store, appending each row as it finishes."""
        for name in self.sheet_images:
            save_rgb(original_path(self.store.recon_dir, name), self.images[name])
        todo = [job for job in jobs if job.key not in self.store.rows]
        for job in todo:  # every point is checked and warmed before the first measurement
            self._warmup(job.point, self.images[job.image])
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="eval", unit="run", dynamic_ncols=True)
        groups = itertools.groupby(todo, key=lambda j: (j.point.label, j.image, j.repeat))
        with bar, torch.inference_mode():
            for _, group in groups:
                group = list(group)
                sent = self._send(group[0])
                for job in group:
                    bar.set_postfix_str(f"{job.point.label} {job.channel} {job.snr_db:g} dB {job.image}")
                    self.store.append(self.measure(job, sent))
                    bar.update()
