"""The one weights-file format of the embedded JSCCs and generators: safetensors + architecture metadata."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from shared.cli import UsageError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"  # shared/weights: the embedded defaults and their cards


class JSCCWeightsMissing(UsageError):
    """An embedded JSCC weights file that is not there (one line, exit 2 from any CLI)."""


def save_configured(net: nn.Module, path: Path, metadata: dict[str, str], dtype: torch.dtype | None = None) -> None:
    """Weights (optionally cast to ``dtype``) + architecture (``net.config`` as ``config`` metadata) as
    safetensors, world-readable: the file format of every embedded JSCC and generator."""
    from safetensors.torch import save_file

    state = {k: (v if dtype is None else v.to(dtype)).detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, path, metadata={"config": json.dumps(net.config.to_dict()), **metadata})
    path.chmod(0o644)


def read_configured(path: Path, what: str, train_command: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(architecture config, state dict) of a :func:`save_configured` file; a missing or
    config-less file is one line that names ``train_command``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise JSCCWeightsMissing(f"{what} weights {path} are missing; train and export them: {train_command}, then --export")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise JSCCWeightsMissing(f"{path} has no 'config' metadata; export it with {train_command} --export")
    return json.loads(meta["config"]), load_file(str(path))
