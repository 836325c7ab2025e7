"""``semcom train COMPONENT``: one trainer module per embedded model."""
from __future__ import annotations

import sys
from typing import Sequence

from shared.cli import dispatch

COMPONENTS: dict[str, tuple[str, str]] = {
    "latent": ("shared.training.latent", "the embedded latent codec (conv autoencoder)"),
    "jscc": ("shared.training.jscc", "the SNR-adaptive DeepJSCC baseline (ADJSCC AF modules)"),
    "lrisc": ("shared.training.lrisc", "LRISC: the latent JSCC (--stage jscc), then the conditional diffusion generator (--stage diffusion)"),
    "semantic": ("shared.training.semantic", "the embedded semantic generator of spic / keyregion / full (embedded latent codec, SLIC edges)"),
    "semantic-taef2": ("shared.training.semantic_taef2", "the semantic generator of spic / keyregion / full in the TAEF2 latent space, from the semantic cache"),
    "semantic-cache": ("shared.training.semantic_cache", "the semantic cache: TAEF2 latents, coded layouts, VOC maps and captions of every training image (resumable)"),
    "lrisc-taef2": ("shared.training.lrisc_taef2", "LRISC's latent JSCC in the TAEF2 latent space, from the latent cache"),
    "lora": ("shared.training.lora", "a scene adapter (LoRA) for the DeepJSCC decoder from one camera's video (--param lora=NAME)"),
    "lora-semantic": ("shared.training.lora_semantic", "a scene adapter (LoRA) for the TAEF2 semantic generator of spic / keyregion / full (--param lora=NAME)"),
    "cache": ("shared.training.latent_cache", "the latent cache: every training image encoded once by a frozen codec (fp16, resumable)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch("semcom train", "Train an embedded model.", COMPONENTS, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
