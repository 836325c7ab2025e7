"""Low-rank scene adapters (LoRA, with peft) for the DeepJSCC decoder and the TAEF2 semantic generator: the
deployment issue's "adapt to one camera's footage in minutes on a CPU, ship only the adapter".

An adapter is ``<name>.safetensors`` in the adapter folder (``$SEMCOM_LORA_DIR``, default
``~/.cache/semcom/lora``): the LoRA matrices of the decoder's convolutions only, with a card in the
file's metadata (base weights, rank, what it was trained on, its measured gain). A stream names its
adapter in the scheme parameters (``deepjscc --param lora=NAME``; ``spic``, ``keyregion`` and ``full`` on
TAEF2 the same way), so the header carries it; the
name is a short safe word, looked up only inside that folder, and a receiver without the file
refuses the stream (``model_unavailable``) and keeps serving.
"""
from __future__ import annotations

import copy
import json
import os
import re
from functools import lru_cache
from pathlib import Path

from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from shared.cli import UsageError
from shared.nets.jscc import DeepJSCC, load_jscc

LORA_WORD = r"[a-z0-9][a-z0-9_-]{0,31}"  # an adapter's name: a word, never a path
LORA_NAME = f"^{LORA_WORD}$"
DEFAULT_RANK = 4  # rank 4 on the 14 decoder convolutions: ~34 k parameters, 6 % of the decoder


def lora_dir() -> Path:
    return Path(os.environ.get("SEMCOM_LORA_DIR") or Path.home() / ".cache" / "semcom" / "lora")


def adapter_path(name: str) -> Path:
    if not re.fullmatch(LORA_NAME, name):
        raise UsageError(f"adapter name {name!r}: use 1-32 of a-z 0-9 _ - (starting with a letter or digit)")
    return lora_dir() / f"{name}.safetensors"


def decoder_targets(net: DeepJSCC) -> list[str]:
    """The decoder's convolutions, by module name (the encoder stays as the transmitter has it)."""
    return [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d) and n.split(".")[0] in ("dec_in", "dec", "dec_out")]


def generator_targets(net: nn.Module) -> list[str]:
    """A conditional denoiser's convolutions and linear layers inside its UNet's blocks (the ResNet and attention
    layers), by module name: the input and output convolutions and the embeddings stay as trained."""
    return [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))
            and any(part in n.split(".") for part in ("down_blocks", "mid_block", "up_blocks"))]


def with_lora(net: nn.Module, rank: int = DEFAULT_RANK, targets: list[str] | None = None) -> nn.Module:
    """A copy of ``net`` with LoRA on ``targets`` (module names; default: a DeepJSCC's decoder convolutions);
    only the LoRA matrices train."""
    adapted = copy.deepcopy(net)
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=targets or decoder_targets(net), lora_dropout=0.0)
    return inject_adapter_in_model(config, adapted)


def save_adapter(net: DeepJSCC, path: Path, card: dict) -> int:
    """Write the LoRA matrices of ``net`` (and ``card`` as metadata) -> the adapter's parameter count."""
    state = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(net).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"card": json.dumps(card)})
    return sum(v.numel() for v in state.values())


def adapter_card(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("card", "{}"))


def apply_adapter(net: nn.Module, base: str, lora: str, targets: list[str]) -> nn.Module:
    """A copy of ``net`` (the weights named ``base``) with adapter ``lora`` merged into ``targets``; UsageError
    (one line) for an adapter this machine lacks or one made for other weights."""
    path = adapter_path(lora)
    if not path.exists():
        raise UsageError(f"no adapter '{lora}' in {lora_dir()} (semcom train lora --name {lora} makes one)")
    card = adapter_card(path)
    if card.get("base") != base:
        raise UsageError(f"adapter '{lora}' adapts '{card.get('base')}', not '{base}'")
    adapted = with_lora(net, int(card.get("rank", DEFAULT_RANK)), targets)
    result = set_peft_model_state_dict(adapted, load_file(str(path)))
    if getattr(result, "unexpected_keys", None):
        raise UsageError(f"adapter '{lora}' does not fit '{base}' ({len(result.unexpected_keys)} unknown tensors)")
    return merged(adapted).eval()


@lru_cache(maxsize=4)
def adapted_jscc(weights: str, lora: str) -> DeepJSCC:
    """``weights`` with the adapter ``lora`` merged into its decoder, built once per process."""
    net = load_jscc(weights)
    return apply_adapter(net, weights, lora, decoder_targets(net))


def merged(net: nn.Module) -> nn.Module:
    """``net`` with every LoRA layer folded into its base layer (W + B A) and put back as a plain
    nn.Conv2d / nn.Linear: decoding (and int8 quantization) then see the base architecture, at the base's cost."""
    for name, module in list(net.named_modules()):
        if hasattr(module, "lora_A") and hasattr(module, "get_base_layer"):
            module.merge()
            parent, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, child, module.get_base_layer())
    return net


def jscc_with(weights: str, lora: str) -> DeepJSCC:
    """The base weights, or the base with adapter ``lora`` ('' = none)."""
    return adapted_jscc(weights, lora) if lora else load_jscc(weights)
