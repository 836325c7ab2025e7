"""Tiny random weights of lrisc's TAEF2 networks (its JSCC and entropy model) in a test's own weights folder."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from shared.nets import entropy, latent_jscc
from shared.nets.entropy import EntropyConfig, Hyperprior
from shared.nets.latent_jscc import LatentJSCC
from shared.nets.weights_file import save_configured
from shared.schemes import lrisc, lrisc_nets
from shared.training.lrisc_taef2 import JSCC_CONFIG

CACHES = (latent_jscc.load_latent_jscc, latent_jscc.latent_normalisation, entropy.load_entropy, lrisc.hub_codec,
          *lrisc_nets.CACHES)


def clear_lrisc_caches() -> None:
    for cache in CACHES:
        cache.cache_clear()


def point_lrisc_at(weights: Path, monkeypatch) -> None:
    """lrisc and its networks read ``weights`` (empty: no lrisc on TAEF2 here), with nothing cached from elsewhere."""
    for module in (lrisc, lrisc_nets, latent_jscc, entropy):
        monkeypatch.setattr(module, "WEIGHTS_DIR", weights)
    clear_lrisc_caches()


def save_tiny_lrisc(weights: Path) -> None:
    """A tiny TAEF2 JSCC (latent std 0.05) and entropy model in ``weights``, seeded."""
    torch.manual_seed(0)
    stats = {"latent_mean": json.dumps([0.0] * 32), "latent_std": json.dumps([0.05] * 32)}
    save_configured(LatentJSCC(replace(JSCC_CONFIG, width=16, af_hidden=8)), weights / f"{lrisc.TAEF2_JSCC}.safetensors", stats)
    save_configured(Hyperprior(EntropyConfig(hidden=8, side_channels=4)), weights / f"{lrisc.TAEF2_ENTROPY}.safetensors", {})
    clear_lrisc_caches()
