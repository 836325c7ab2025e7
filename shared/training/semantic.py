"""Train the semantic generator: one conditional denoiser for the ``spic``, ``keyregion`` and ``full`` schemes.

The same :class:`~shared.generators.diffusion.ConditionalDenoiser` as LRISC's, with the semantic
conditions (:mod:`shared.generators.semantic_conditions`) in place of the received latent:

    z_n = E(x) / std  (the embedded latent codec, frozen)
    S = one scheme's condition set, drawn per batch (spic: lowres + edges; keyregion: key + caption;
        full: edges + key + caption), each condition then dropped with p_drop
    x_t = sqrt(a_t) z_n + sqrt(1 - a_t) eps,   z0 = UNet(x_t, t | S)
    loss = MSE(z0, z_n) + pixel_weight * (MSE(D(z0), x) + perceptual_weight * effnet_dist(D(z0), x))

The conditions are made as the transmitters make them: ``lowres`` is the crop's WebP-coded
low-res image, ``edges`` the default embedded segmenter's boundaries, ``caption`` the default
captioner's text for the crop with its key region blanked; ``key`` is the crop's own latent
under a random box mask, with Gaussian noise standing in for the analog channel. D is LRISC's
receiver decoder (``lrisc_latent_ae``), frozen: one latent decoder serves every generative scheme.

    OMP_NUM_THREADS=2 semcom train semantic --minutes 40 --threads 2
    semcom train semantic --export
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from shared.bench.hardware import cpu_model
from shared.cli import CliParser, UsageError, run_cli
from shared.generators.diffusion import ConditionalDenoiser, Conditions, drop_conditions, make_scheduler, sample, save_denoiser
from shared.generators.semantic_conditions import (
    SCHEME_CONDITIONS,
    SEMANTIC_DENOISER,
    caption_condition,
    edge_condition,
    key_condition,
    latent_grid,
    lowres_condition,
    non_key,
    semantic_conditions,
)
from shared.sideinfo.image_fit import decode_image
from shared.sideinfo.lowres import LowResConfig, encode_lowres
from shared.training.data import add_data_args, add_run_args, parse_data_source
from shared.training.latent import psnr, validation_images
from shared.training.loop import CropBatches, fit
from shared.training.lrisc import VAL_STEPS, Frozen, TrainConfig, effnet_distance

NAME = "semantic_diffusion"
RECEIVER_CODEC = "lrisc-latent-ae"  # the decoder every generative scheme's receiver uses


class SideInfo:
    """What the transmitters send, made for training crops: the coded low-res image, the map's edges,
    noisy key-region latents under a random key mask, and the caption of the non-key region."""

    def __init__(self):
        from shared.registry.table import default_model, load_model

        self.segmenter = load_model(default_model("segmenter"), role="segmenter")
        self.captioner = load_model(default_model("captioner"), role="captioner")
        self.lowres = LowResConfig()

    def conditions(self, x: torch.Tensor, z_n: torch.Tensor, names: tuple[str, ...], gen: torch.Generator) -> Conditions:
        """(B, 3, H, W) in [0, 1] and its latent (B, L, h, w) -> the conditions ``names`` (see semantic_conditions)."""
        frames = (x * 255).round().byte().permute(0, 2, 3, 1).numpy()  # (B, H, W, 3)
        b, (h, w) = len(frames), frames.shape[1:3]
        parts: dict[str, torch.Tensor] = {}
        if "lowres" in names:
            parts["lowres"] = torch.cat([lowres_condition(decode_image(encode_lowres(f, self.lowres), *latent_grid(h, w)), h, w)
                                         for f in frames])  # (B, 3, h, w)
        if "edges" in names:
            parts["edges"] = torch.cat([edge_condition(self.segmenter.segment(f).labels) for f in frames])  # (B, 16, h, w)
        if "key" in names or "caption" in names:
            mask = random_key_masks(b, *z_n.shape[2:], gen)  # (B, 1, h, w)
            sigma = torch.rand(b, 1, 1, 1, generator=gen) * KEY_NOISE_MAX  # (B, 1, 1, 1): channel noise on the key latents
            parts["key"] = key_condition(z_n + sigma * torch.randn(z_n.shape, generator=gen), mask)
            pixel_mask = mask.repeat_interleave(8, 2).repeat_interleave(8, 3)[:, 0].bool().numpy()  # (B, H, W)
            parts["caption"] = caption_condition([self.captioner.caption(non_key(f, m)) for f, m in zip(frames, pixel_mask)])
        return semantic_conditions(**{k: v for k, v in parts.items() if k in names})


KEY_NOISE_MAX = 0.5  # key latents arrive through an analog channel: noise std up to half the latent's
SCHEMES = tuple(SCHEME_CONDITIONS)  # one scheme's condition set per batch, uniformly


def random_key_masks(b: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """(B, 1, h, w) masks of one or two random boxes, each 25-60% of the side: stand-ins for faces and salient objects."""
    m = torch.zeros(b, 1, h, w)
    for i in range(b):
        for _ in range(1 + int(torch.randint(2, (1,), generator=gen))):
            bh, bw = (max(1, int(s * (0.25 + 0.35 * float(torch.rand(1, generator=gen))))) for s in (h, w))
            y, x = int(torch.randint(h - bh + 1, (1,), generator=gen)), int(torch.randint(w - bw + 1, (1,), generator=gen))
            m[i, 0, y : y + bh, x : x + bw] = 1
    return m


class SemanticStage(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.denoiser = ConditionalDenoiser(SEMANTIC_DENOISER)


def receiver_decoder() -> torch.nn.Module:
    from shared.registry.table import load_model

    return load_model(RECEIVER_CODEC, role="latent_codec").net.decoder.eval().requires_grad_(False)


def semantic_loss(model: SemanticStage, frozen: Frozen, decoder, side: SideInfo, x: torch.Tensor, cfg: TrainConfig,
                  gen: torch.Generator, sched) -> tuple[torch.Tensor, dict]:
    z_n = frozen.encode(x)  # (B, L, h, w)
    names = SCHEME_CONDITIONS[SCHEMES[int(torch.randint(len(SCHEMES), (1,), generator=gen))]]
    cond = drop_conditions(side.conditions(x, z_n, names, gen), cfg.p_drop, gen)
    t = torch.randint(0, sched.config.num_train_timesteps, (x.shape[0],), generator=gen)  # (B,)
    x_t = sched.add_noise(z_n, torch.randn(z_n.shape, generator=gen), t)  # (B, L, h, w)
    z0 = model.denoiser(x_t, t, cond)  # (B, L, h, w)
    lat = F.mse_loss(z0, z_n)
    y = frozen.decode(z0, decoder)  # (B, 3, H, W)
    pix = F.mse_loss(y, x)
    perc = effnet_distance(y, x) if cfg.perceptual_weight else torch.zeros(())
    loss = lat + cfg.pixel_weight * (pix + cfg.perceptual_weight * perc)
    return loss, {"lat": lat.item(), "pix": pix.item(), "perc": perc.item()}


@torch.no_grad()
def validate(model: SemanticStage, frozen: Frozen, decoder, side: SideInfo) -> dict[str, float]:
    """Validation photos at 256x256, each scheme's conditions, DDIM from pure noise: PSNR and effnet_dist per scheme."""
    model.eval()
    imgs = torch.stack([torch.from_numpy(img).permute(2, 0, 1).float() / 255 for _, img in validation_images()])  # (6, 3, 256, 256)
    ref = (imgs * 255).round().byte().permute(0, 2, 3, 1).numpy()
    z_n = frozen.encode(imgs)  # (6, L, 32, 32)
    out = {}
    for scheme, names in SCHEME_CONDITIONS.items():
        cond = side.conditions(imgs, z_n, names, torch.Generator().manual_seed(0))
        z0 = sample(model.denoiser, cond, tuple(z_n.shape), steps=VAL_STEPS, generator=torch.Generator().manual_seed(0))
        y = frozen.decode(z0, decoder).clamp(0, 1)  # (6, 3, 256, 256)
        y8 = (y * 255).round().byte().permute(0, 2, 3, 1).numpy()
        out[f"{scheme}_psnr"] = float(np.mean([psnr(a, b) for a, b in zip(ref, y8)]))
        out[f"{scheme}_effnet"] = float(effnet_distance(y, imgs))
    model.train()
    return out


def export(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    meta = json.loads((ckpt_dir / "state.json").read_text())
    cfg = TrainConfig(**meta["train"])
    stage = SemanticStage()
    stage.load_state_dict(load_file(ckpt_dir / "model.safetensors"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{NAME}.safetensors"
    save_denoiser(stage.denoiser, path, {"train": json.dumps(meta["train"]), "step": str(meta["step"])})
    c = stage.denoiser.config
    val = next(h["val"] for h in reversed(meta["history"]) if "val" in h)
    curve = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | {h.get('lat', float('nan')):.4f} | {h.get('pix', float('nan')):.4f} | "
                      f"{h.get('perc', float('nan')):.4f} | " + ", ".join(f"{k} {v:.3f}" for k, v in h["val"].items()) + " |"
                      for h in meta["history"] if "val" in h)
    card = f"""# Model card: `{NAME}`

The semantic generator (`shared/training/semantic.py`): one diffusers `UNet2DModel` for the `spic`, `keyregion`
and `full` schemes, predicting the clean latent of the embedded latent codec from the side information
(`shared/generators/semantic_conditions.py`): the coded low-res image on the latent grid, the segmentation map's region
boundaries (16 channels, 2-pixel precision), the key-region latents with their mask, and the caption's MiniLM
embedding, each with a presence flag. Decoded by `lrisc_latent_ae`. {sum(p.numel() for p in stage.parameters()):,}
parameters, {path.stat().st_size / 1e6:.2f} MB (fp16).

| | |
| --- | --- |
| architecture | UNet2DModel, levels {list(c.block_out_channels)}, attention {list(c.attention_levels)}, {c.layers_per_block} ResNet block per level; {c.train_timesteps} timesteps, {c.beta_schedule}; spatial conditions {[n for n, _ in c.spatial]}; stored fp16 |
| frozen | the latent encoder of `latent_conv_ae`; the decoder of `lrisc_latent_ae` |
| data | `{meta['data']}`: every photo and every {meta['video_stride']}th video frame; random crops {cfg.crop}x{cfg.crop} at scales [{cfg.min_scale}, 1], flips |
| conditions in training | one scheme's set per batch, uniformly: spic (low-res + edges), keyregion (key + caption), full (edges + key + caption); then each condition dropped with p = {cfg.p_drop:g} (classifier-free guidance, and decoding with a lost part). Low-res: WebP-coded as the transmitter does (factor {LowResConfig().factor}, quality {LowResConfig().quality}); edges: the default segmenter's (`regions-slic`); key: the crop's latent under one or two random boxes (25-60% of a side) plus Gaussian noise of std U[0, {KEY_NOISE_MAX:g}]; caption: the default captioner's text for the crop with the key boxes blanked |
| loss | MSE(z0, z_n) + {cfg.pixel_weight:g} x (MSE(D(z0), x) + {cfg.perceptual_weight:g} x effnet_dist(D(z0), x)); **perceptual loss: yes**, the EfficientNet-Lite0 feature distance that `semcom eval` reports as `effnet_dist` (judge it also by PSNR, MS-SSIM and semantic agreement) |
| optimiser | Adam (0.9, 0.99), peak lr {cfg.lr:g}, {cfg.warmup} warm-up steps, cosine to lr/50 over {cfg.steps} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {cfg.batch}) |
| wall time | {meta['wall_s'] / 60:.1f} min |
| hardware | {meta.get('hardware', cpu_model())}, CPU only, {meta.get('threads', 1)} thread(s), torch {torch.__version__} |
| command | `{meta['command']}` (then `--export`) |

## Validation: scikit-image photos at 256x256 (never trained on), each scheme's conditions, DDIM {VAL_STEPS} steps from noise
PSNR (dB) and effnet_dist per scheme; keyregion/full here get random key boxes as a condition only (the schemes
also hold the key latents at every step, which this check does not): {', '.join(f'{k} {v:.3f}' for k, v in val.items())}

## Training curve
| step | wall s | lat | pix | perc | validation |
| --- | --- | --- | --- | --- | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else "")
    (out_dir / f"{NAME}.md").write_text(card)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); validation {val}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="semcom train semantic", description="Train / export the semantic generator of the spic scheme "
                  "(conditioned on the coded low-res image and the segmentation map's boundaries).")
    add_data_args(p)
    p.add_argument("--ckpt-dir", type=Path, default=Path("out") / NAME, help="checkpoint folder (resumes); default %(default)s")
    p.add_argument("--steps", type=int, default=3000, help="total steps (the cosine schedule's length)")
    p.add_argument("--lr", type=float, default=4e-4, help="peak learning rate")
    p.add_argument("--perceptual-weight", type=float, default=TrainConfig.perceptual_weight, help="effnet_dist weight (0 = none)")
    add_run_args(p, minutes=45.0)
    args = p.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        if args.export:
            if not (args.ckpt_dir / "state.json").exists():
                raise UsageError(f"no checkpoint in {args.ckpt_dir}; train first")
            export(args.ckpt_dir, args.out_dir, args.note)
            return 0
        cfg = replace(TrainConfig(), steps=args.steps, lr=args.lr, perceptual_weight=args.perceptual_weight)
        torch.manual_seed(cfg.seed)
        frozen, decoder, side = Frozen(None), receiver_decoder(), SideInfo()
        model = SemanticStage()
        sched = make_scheduler(model.denoiser.config)
        command = "semcom train semantic " + " ".join(argv if argv is not None else sys.argv[1:])
        fit("semantic", "semantic", model, [{"params": list(model.parameters()), "lr_scale": 1.0}],
            lambda x, g: semantic_loss(model, frozen, decoder, side, x, cfg, g, sched),
            lambda: validate(model, frozen, decoder, side), CropBatches(parse_data_source(args.data), args.video_stride, cfg),
            args.ckpt_dir, cfg, args.minutes, args.ckpt_every, args.log_every, command)
        return 0

    return run_cli("semcom train semantic", body)


if __name__ == "__main__":
    raise SystemExit(main())
