"""Tune TAEF2's decoder to what LRISC's latent JSCC delivers: the receiver-side decoder of ``lrisc`` on TAEF2.

    semcom train lrisc-taef2 --stage decoder --minutes 50 --threads 2     # then --export

The frozen TAEF2 decoder was trained on clean latents; the JSCC's estimate z_hat is off that manifold
(noise, lost detail), and the decoder draws a fine grid there. This stage copies the decoder and fine-tunes
the copy on pairs (z_hat, D(z)): a cached latent z of a corpus crop, sent through the exported (frozen) JSCC
over a random channel (SNR U[0, 20] dB, AWGN or Rayleigh, random lengths per block, as the JSCC trained),
and TAEF2's own picture of the clean latent as the target. Loss: pixel MSE + effnet_dist, the JSCC's
decoder-space terms and weights. Only the receiver changes: every transmitter stays compatible, and
``lrisc`` uses the tuned decoder wherever ``shared/weights/lrisc_taef2_decoder.safetensors`` is shipped
(``decoder=tuned``, the default; ``decoder=plain`` is TAEF2's own).

    semcom train lrisc-taef2 --stage joint --minutes 45 --threads 2       # then --export

The joint stage goes one step further: the JSCC (encoder and decoder) trains too, end to end through the
tuned decoder, with the pixel terms on every step (the JSCC stage had them on every 10th, on 2 samples)
plus the JSCC's latent MSE, which keeps z_hat a TAEF2 latent for ``decoder=plain``. It starts from the
shipped JSCC and the shipped tuned decoder, and its export replaces both (the transmitter changes too).
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from shared.bench.hardware import cpu_model
from shared.nets.latent_jscc import latent_normalisation
from shared.nets.weights_file import WEIGHTS_DIR, save_configured
from shared.schemes.lrisc_nets import TAEF2_TUNED, tuned_taef2_decoder
from shared.training.latent_cache import LatentBatches, LatentCache
from shared.training.loop import curve_rows, fit
from shared.training.lrisc import effnet_distance
from shared.training.lrisc_taef2 import (
    WEIGHT_NAME,
    Normaliser,
    TrainConfig,
    Validator,
    frozen_codec,
    frozen_jscc,
    read_checkpoint,
    through_channel,
)

DECODER_NAME = TAEF2_TUNED  # shared/weights/<name>: what lrisc's receiver loads for decoder=tuned
LAT_WEIGHT = 0.1  # joint stage: the latent MSE (~0.36) at a tenth, under the pixel terms (~0.2), present so z_hat stays a TAEF2 latent
JOINT_SECTION = "## Fine-tuned end to end with the receiver's decoder"  # the JSCC card's section the joint export rewrites
DEFAULTS = {"steps": 3000, "batch": 4, "lr": 1e-4, "warmup": 100}  # a fine-tune: few steps, small lr, 4 crops (~1 s a step on 2 threads)


def jscc_normaliser() -> Normaliser:
    """The normalisation the exported JSCC was trained with (its metadata), so z_hat de-normalises as it does at run time."""
    mean, std = latent_normalisation(WEIGHT_NAME)
    return Normaliser(mean.flatten(), std.flatten())


def tuned_copy() -> torch.nn.Module:
    """A trainable fp32 copy of TAEF2's (frozen, shared) decoder: where the fine-tune starts."""
    return copy.deepcopy(frozen_codec().net.decoder).requires_grad_(True)  # the hub's architecture and width


class ReceiverPair(torch.nn.Module):
    """What the joint stage trains: the latent JSCC and the receiver's decoder (one checkpoint, one optimiser)."""

    def __init__(self, jscc: torch.nn.Module, decoder: torch.nn.Module):
        super().__init__()
        self.jscc, self.decoder = jscc, decoder


def receiver_loss(jscc, decoder: torch.nn.Module, norm: Normaliser, z: torch.Tensor, cfg: TrainConfig,
                  gen: torch.Generator, train_jscc: bool) -> tuple[torch.Tensor, dict]:
    """z (B, 32, h, w) raw cached latents -> pixel MSE + effnet_dist of D'(z_hat) against D(z) (+ the latent MSE when
    the JSCC trains too)."""
    z_n = norm.forward(z)  # (B, 32, h, w)
    with torch.set_grad_enabled(train_jscc):
        z_hat, _ = through_channel(jscc, z_n, cfg, gen)  # (B, 32, h, w) normalised
    with torch.no_grad():
        target = frozen_codec().net.decoder(z).clamp(0, 1)  # (B, 3, 8h, 8w) TAEF2's picture of the clean latent
    y = decoder(norm.inverse(z_hat))  # (B, 3, 8h, 8w)
    pix = F.mse_loss(y, target)
    perc = effnet_distance(y, target)
    loss = cfg.pixel_weight * pix + cfg.perceptual_weight * perc
    terms = {"pix": pix.item(), "perc": perc.item()}
    if train_jscc:
        lat = F.mse_loss(z_hat, z_n)
        loss = loss + LAT_WEIGHT * lat
        terms["lat"] = lat.item()
    return loss, terms


def train(cache: LatentCache, ckpt_dir: Path, cfg: TrainConfig, minutes: float, ckpt_every: int, log_every: int,
          command: str, joint: bool = False) -> None:
    """The decoder stage (the JSCC frozen) or, with ``joint``, the joint stage (both, from the shipped tuned decoder)."""
    torch.manual_seed(cfg.seed)
    norm, jscc = jscc_normaliser(), frozen_jscc()
    if joint:  # from the shipped tuned decoder (the command line checked it is there)
        decoder = tuned_taef2_decoder(frozen_codec().net.decoder).requires_grad_(True)
        jscc.requires_grad_(True).train()
    else:
        decoder = tuned_copy()
    model = ReceiverPair(jscc, decoder) if joint else decoder
    validator = Validator(norm)
    fit(f"lrisc-taef2 {'joint' if joint else 'decoder'}", "joint" if joint else "decoder", model,
        [{"params": [p for p in model.parameters() if p.requires_grad], "lr_scale": 1.0}],
        lambda z, gen: receiver_loss(jscc, decoder, norm, z, cfg, gen, train_jscc=joint),
        lambda: validator(jscc, cfg, decoder), LatentBatches(cache, cfg.batch, cfg.crop), ckpt_dir, cfg, minutes,
        ckpt_every, log_every, command)


def train_joint(*args) -> None:
    train(*args, joint=True)


def _rows_table(rows: dict[str, dict[str, float]]) -> str:
    keys = [k for k in next(iter(rows.values())) if k != "codec_psnr"]
    head = f"| receiver | {' | '.join(keys)} |\n| --- | {' | '.join('---' for _ in keys)} |\n"
    return head + "\n".join(f"| {name} | {' | '.join(f'{v[k]:.3f}' for k in keys)} |" for name, v in rows.items())


def export(ckpt_dir: Path, out_dir: Path, note: str, joint: bool = False) -> Path:
    """``<out_dir>/lrisc_taef2_decoder.safetensors`` (fp16) and its model card; with ``joint`` also the JSCC
    (``lrisc_taef2_jscc``, its card gaining a section). Each card compares the receivers on the validation photos."""
    from safetensors import safe_open

    meta = json.loads((ckpt_dir / "state.json").read_text())
    cfg = TrainConfig(**meta["train"])
    norm, shipped = jscc_normaliser(), frozen_jscc()
    validator = Validator(norm)
    rows = {"TAEF2's own decoder, shipped JSCC": validator(shipped, cfg)}
    decoder = tuned_copy()
    if joint:
        rows["shipped tuned decoder, shipped JSCC"] = validator(shipped, cfg, tuned_taef2_decoder(frozen_codec().net.decoder))
        pair = ReceiverPair(copy.deepcopy(shipped), decoder)  # the shipped architecture; the checkpoint's weights
        meta, val = read_checkpoint(ckpt_dir, pair)
        rows["TAEF2's own decoder, the jointly tuned JSCC"] = validator(pair.jscc, cfg)
        rows["JSCC and decoder tuned together"] = val
    else:
        meta, val = read_checkpoint(ckpt_dir, decoder)
        rows["tuned decoder, shipped JSCC"] = val
    table = _rows_table(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    if joint:
        jscc_path = out_dir / f"{WEIGHT_NAME}.safetensors"
        with safe_open(str(WEIGHTS_DIR / f"{WEIGHT_NAME}.safetensors"), framework="pt") as f:
            jscc_meta = {k: v for k, v in (f.metadata() or {}).items() if k != "config"}
        save_configured(pair.jscc, jscc_path, jscc_meta | {"joint_step": str(meta["step"]), "joint_command": meta.get("command", "")},
                        dtype=torch.float16)
        card = WEIGHTS_DIR / f"{WEIGHT_NAME}.md"
        text = card.read_text().split(JOINT_SECTION)[0].rstrip() if card.is_file() else f"# Model card: `{WEIGHT_NAME}`"
        (out_dir / f"{WEIGHT_NAME}.md").write_text(f"""{text}

{JOINT_SECTION}
After the steps above, `{meta.get('command', '')}` (then `--export`) trained this JSCC (encoder and decoder) together
with the receiver's tuned decoder (`{DECODER_NAME}`), end to end: {cfg.pixel_weight:g} x pixel MSE + {cfg.perceptual_weight:g} x
effnet_dist through that decoder on every step, plus {LAT_WEIGHT:g} x the latent MSE; {meta['step']} steps of {cfg.batch} crops, peak lr
{cfg.lr:g}, {meta['wall_s'] / 60:.1f} min on {meta.get('hardware', cpu_model())}, {meta.get('threads', 1)} thread(s).
Validation (scikit-image photos at 256x256, AWGN, one length everywhere, means over 0/10/20 dB):

{table}

| step | wall s | pix | perc | lat | validation |
| --- | --- | --- | --- | --- | --- |
{curve_rows(meta, ("pix", "perc", "lat"))}
""" + (f"\n{note}\n" if note else ""))  # the history of earlier joint runs, which this section replaces
    path = out_dir / f"{DECODER_NAME}.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in decoder.state_dict().items()}, path,
              metadata={"base": "taef2", "jscc": WEIGHT_NAME, "step": str(meta["step"]), "train": json.dumps(meta["train"]),
                        "joint": str(joint)})
    path.chmod(0o644)
    n_params = sum(p.numel() for p in decoder.parameters())
    trained = (f"`{WEIGHT_NAME}` trained with it (the joint stage, after the decoder stage)" if joint
               else f"`{WEIGHT_NAME}` frozen (the JSCC, its normalisation)")
    (out_dir / f"{DECODER_NAME}.md").write_text(f"""# Model card: `{DECODER_NAME}`

TAEF2's decoder (`shared/codecs/taef2.py`, the upstream architecture) fine-tuned at the receiver on what
`{WEIGHT_NAME}` delivers (`shared/training/receiver_decoder.py`). {n_params:,} parameters,
{path.stat().st_size / 1e6:.2f} MB (fp16). A derivative of TAEF2's published decoder weights
(madebyollin/taesd @ 5cccb12, `taef2_decoder.pth`, MIT licence, (c) Ollin Boer Bohan): the starting point.

| | |
| --- | --- |
| JSCC | {trained}; TAEF2 (SHA-256 pinned) frozen: its decoder of the clean latent is the target |
| data | latent cache `{meta['cache']}` ({meta.get('cache_latents', '?')} latents of `{meta.get('data', '?')}`); random {cfg.crop}x{cfg.crop} latent crops ({cfg.crop * 8} px); corpus licences: `../shared/corpus/README.md` (most research-only); the validation split is never read |
| channel | as the JSCC trained: SNR U[0, 20] dB, Rayleigh + ZF for {cfg.fading_p:.0%}, random lengths per 64x64 block (one length a sample in {cfg.uniform_rate_p:.0%}) |
| loss | {cfg.pixel_weight:g} x MSE(D'(z_hat), D(z)) + {cfg.perceptual_weight:g} x effnet_dist(D'(z_hat), D(z)){f' + {LAT_WEIGHT:g} x MSE(z_hat, z_n)' if joint else ''}; **perceptual loss: yes** (judge it by PSNR, MS-SSIM and agreement too) |
| optimiser | Adam (0.9, 0.99), peak lr {cfg.lr:g}, {cfg.warmup} warm-up steps, cosine to lr/50 over {cfg.steps} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {cfg.batch}), wall {meta['wall_s'] / 60:.1f} min on {meta.get('hardware', cpu_model())}, {meta.get('threads', 1)} thread(s), torch {torch.__version__} |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation: scikit-image photos at 256x256 (never trained on), AWGN, one length everywhere, means over 0/10/20 dB
{table}

## Training curve
| step | wall s | pix | perc | validation |
| --- | --- | --- | --- | --- |
{curve_rows(meta, ("pix", "perc"))}
""" + (f"\n## History\n{note}\n" if note else ""))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); " + "; ".join(f"{k}: {v}" for k, v in rows.items()))
    return path


def export_joint(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    return export(ckpt_dir, out_dir, note, joint=True)


def stage_config(cfg: TrainConfig, steps: int | None, lr: float | None, batch: int | None) -> TrainConfig:
    """This stage's :class:`TrainConfig`: its own defaults where the command line set nothing."""
    given = {"steps": steps, "lr": lr, "batch": batch}
    return replace(cfg, **{k: given.get(k) if given.get(k) is not None else v for k, v in DEFAULTS.items()})

