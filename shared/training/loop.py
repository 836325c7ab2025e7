"""The training loop every generative-core trainer shares, and where its batches come from.

:func:`fit` runs Adam with warm-up + cosine lr, grad-norm clipping, a progress bar, log lines,
validation and resumable safetensors checkpoints. A :class:`Batches` source hands it one batch
per step: :class:`CropBatches` cuts random pixel crops from a loaded corpus; the latent cache
(:mod:`shared.training.latent_cache`) hands out latent crops the same way.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from shared.bench.hardware import cpu_model
from shared.training.data import DataSource, load_corpus
from shared.training.jscc import load_optimizer, save_optimizer
from shared.training.latent import lr_at, sample_batch


class Batches(Protocol):
    """One training batch per call; ``describe`` is the log line, ``meta`` goes into the checkpoint and the card."""

    describe: str
    meta: dict

    def __call__(self, rng: np.random.Generator) -> torch.Tensor: ...


class CropBatches:
    """Random pixel crops (B, 3, crop, crop) in [0, 1] of a corpus loaded in memory (``cfg.batch``, ``cfg.crop``)."""

    def __init__(self, data: DataSource, video_stride: int, cfg):
        self.images, self.cfg = load_corpus(data, video_stride), cfg
        self.describe = f"corpus {len(self.images)} images from {data}"
        self.meta = {"data": str(data), "video_stride": video_stride}

    def __call__(self, rng: np.random.Generator) -> torch.Tensor:
        return sample_batch(self.images, self.cfg, rng)


def fit(title: str, stage: str, model: nn.Module, groups: list[dict], step_loss: Callable, validate_now: Callable[[], dict],
        batches: Batches, ckpt_dir: Path, cfg, minutes: float, ckpt_every: int, log_every: int, command: str) -> None:
    """The training loop every generative-core stage shares: Adam over ``groups`` (each with an ``lr_scale``),
    warm-up + cosine lr, grad-norm clip 1, progress bar, log lines, validation and safetensors checkpoints
    in ``ckpt_dir`` (resumed when present). ``step_loss(batch, gen) -> (loss, terms)`` on ``batches(rng)``."""
    opt = torch.optim.Adam(groups, lr=cfg.lr, betas=(0.9, 0.99))
    paths = {k: ckpt_dir / f"{k}.{ext}" for k, ext in (("model", "safetensors"), ("optimizer", "safetensors"), ("state", "json"))}
    step, wall, history = 0, 0.0, []
    if paths["state"].exists():
        model.load_state_dict(load_file(paths["model"]))
        load_optimizer(opt, paths["optimizer"])
        meta = json.loads(paths["state"].read_text())
        step, wall, history = meta["step"], meta["wall_s"], meta["history"]
        print(f"resumed at step {step} ({wall:.0f} s trained)", flush=True)
    print(f"{title}: {sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters; "
          f"{batches.describe}", flush=True)
    rng, gen = np.random.default_rng(cfg.seed + step), torch.Generator().manual_seed(cfg.seed + step)
    model.train()
    t0, window = time.time() - wall, []

    def checkpoint() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, paths["model"])
        save_optimizer(opt, paths["optimizer"])
        paths["state"].write_text(json.dumps({"stage": stage, "step": step, "wall_s": time.time() - t0, "history": history,
                                              "train": asdict(cfg), "command": command, "hardware": cpu_model(),
                                              "threads": torch.get_num_threads(), **batches.meta}))

    bar = tqdm(total=cfg.steps, initial=step, desc=title, unit="step", mininterval=10, dynamic_ncols=True)
    while step < cfg.steps and time.time() - t0 < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg) * g["lr_scale"]
        loss, terms = step_loss(batches(rng), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        window.append({"loss": loss.item(), **terms})
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr_at(step, cfg):.1e}", refresh=False)
        if step % log_every == 0 or step == cfg.steps:
            entry = {"step": step, "wall_s": round(time.time() - t0, 1),
                     **{k: float(np.mean([w[k] for w in window])) for k in window[0]}}
            window = []
            if step % ckpt_every == 0 or step == cfg.steps:
                entry["val"] = validate_now()
            history.append(entry)
            bar.write(json.dumps(entry))
        if step % ckpt_every == 0:
            checkpoint()
    bar.close()
    if not history or "val" not in history[-1]:
        history.append({"step": step, "wall_s": round(time.time() - t0, 1), "val": validate_now()})
    checkpoint()
    print(f"stopped at step {step} after {time.time() - t0:.0f} s", flush=True)


def curve_rows(meta: dict, terms: tuple[str, ...]) -> str:
    """The model card's training-curve rows: step, wall s, the loss ``terms``, the validation."""
    return "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | " + " | ".join(f"{h.get(k, float('nan')):.4f}" for k in terms)
                     + " | " + ", ".join(f"{k} {v:.3f}" for k, v in h["val"].items()) + " |"
                     for h in meta["history"] if "val" in h)
