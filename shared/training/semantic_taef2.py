"""Train the semantic generator in TAEF2's latent space, from the semantic cache (``semcom train semantic-cache``).

One conditional denoiser for ``spic``, ``keyregion`` and ``full`` with ``codec=taef2``
(conditions: :mod:`shared.generators.semantic_taef2`):

    z_n = (z - mean) / std          (TAEF2 latent of the crop, the cache's per-channel statistics)
    S = one scheme's condition set per batch (spic: layout4 + classes; keyregion: layout32 + key +
        caption; full: classes + key + caption), each condition then dropped with p_drop
    t = T - 1 for a share one_step_p of the crops (the receivers' one step from noise), else t ~ U[0, T)
    x_t = sqrt(a_t) z_n + sqrt(1 - a_t) eps,   z0 = layout + UNet(x_t, t | S)   (no layout: UNet alone)
    loss = MSE(z0, z_n) + pixel_weight * MSE(D(z0), D(z)) + perceptual_weight * effnet_dist(D(z0), D(z))

D is TAEF2's decoder (frozen), on the first ``pixel_batch`` crops of each batch. ``key`` is the
crop's own latent under one or two random boxes plus Gaussian noise (the analog channel).

    semcom train semantic-taef2 --minutes 50 --threads 2
    semcom train semantic-taef2 --export
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from shared.bench.hardware import cpu_model
from shared.cli import CliParser, UsageError, run_cli
from shared.generators.diffusion import ConditionalDenoiser, drop_conditions, make_scheduler, sample, save_denoiser
from shared.generators.semantic_conditions import key_condition
from shared.generators.semantic_taef2 import (
    GENERATOR,
    SCHEME_CONDITIONS,
    SCHEME_LAYOUT,
    SEMANTIC_TAEF2_DENOISER,
    Normaliser,
    class_condition,
    conditions,
    normaliser_metadata,
)
from shared.training.data import add_run_args
from shared.training.latent_cache import DEFAULT_CACHE
from shared.training.loop import curve_rows, fit
from shared.training.lrisc import effnet_distance
from shared.training.semantic import KEY_NOISE_MAX, random_key_masks
from shared.training.semantic_cache import FOLDER, SemanticCache

VAL_SHARE = 0.03  # cache entries held out for validation (the corpus validation split is never cached)


@dataclass
class TrainConfig:
    steps: int = 4000  # the cosine schedule's length
    batch: int = 16  # 16 x 16-cell latent crops: cheap, the UNet is the cost
    crop_cells: int = 16  # 128 x 128 pixels
    pixel_batch: int = 2  # crops decoded for the pixel terms: the TAEF2 decoder's backward pass is the slow part
    lr: float = 4e-4  # Adam peak
    warmup: int = 200  # linear warm-up steps
    pixel_weight: float = 10.0  # pixel MSE (~0.005) against latent MSE (~0.3)
    perceptual_weight: float = 0.5  # effnet_dist (~0.5): sharper than MSE alone
    p_drop: float = 0.1  # condition dropout: classifier-free guidance, and decoding with a lost part
    # share of crops trained at t = T - 1: the receivers sample one step from noise, so that step is what they run
    one_step_p: float = 0.5
    seed: int = 0  # reproducible crops, masks, noise


class CacheBatches:
    """Random aligned crops of the cached arrays, horizontally flipped half the time: a dict of (B, ...) tensors."""

    def __init__(self, cache: SemanticCache, indices: np.ndarray, cfg: TrainConfig):
        self.cache, self.indices, self.cfg = cache, indices, cfg
        self.describe = f"semantic cache {cache.folder}: {len(indices)} training entries"
        self.meta = {"cache": str(cache.folder), "cache_entries": len(cache), "train_entries": len(indices)}

    def __call__(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        a, c = self.cache.arrays, self.cfg.crop_cells
        cells = a["z"].shape[-1]
        out: dict[str, list] = {k: [] for k in a}
        for i in rng.choice(self.indices, self.cfg.batch):
            y, x = rng.integers(cells - c + 1, size=2)
            flip = rng.random() < 0.5
            for k in ("z", "layout4", "layout32"):
                v = a[k][i, :, y : y + c, x : x + c]
                out[k].append(v[..., ::-1] if flip else v)
            lab = a["labels"][i, 8 * y : 8 * (y + c), 8 * x : 8 * (x + c)]
            out["labels"].append(lab[:, ::-1] if flip else lab)
            out["caption"].append(a["caption"][i])
        return {k: torch.from_numpy(np.ascontiguousarray(np.stack(v))).float() if k != "labels"
                else torch.from_numpy(np.ascontiguousarray(np.stack(v))) for k, v in out.items()}


def scheme_conditions(batch: dict[str, torch.Tensor], norm: Normaliser, scheme: str, gen: torch.Generator,
                      z_n: torch.Tensor, key_noise: bool = True):
    """A batch's conditions as ``scheme``'s receiver has them (the key latents through a noisy channel)."""
    names = SCHEME_CONDITIONS[scheme]
    parts: dict[str, torch.Tensor] = {}
    if "layout" in names:
        parts["layout"] = norm.forward(batch[f"layout{SCHEME_LAYOUT[scheme]}"])  # (B, 32, h, w)
    if "classes" in names:
        parts["classes"] = class_condition(batch["labels"])  # (B, 21, h, w)
    if "key" in names:
        b, _, h, w = z_n.shape
        mask = random_key_masks(b, h, w, gen)  # (B, 1, h, w)
        sigma = torch.rand(b, 1, 1, 1, generator=gen) * KEY_NOISE_MAX if key_noise else torch.zeros(b, 1, 1, 1)
        parts["key"] = key_condition(z_n + sigma * torch.randn(z_n.shape, generator=gen), mask)  # (B, 33, h, w)
    if "caption" in names:
        parts["caption"] = batch["caption"]  # (B, 384)
    return conditions(**parts)


def decoder():
    from shared.registry.table import load_model

    return load_model("taef2", role="latent_codec").net.decoder.eval().requires_grad_(False)


class Generator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.denoiser = ConditionalDenoiser(SEMANTIC_TAEF2_DENOISER)  # the module's name, looked up now: tests shrink it


def step_loss(model: Generator, norm: Normaliser, dec, batch: dict, cfg: TrainConfig, gen: torch.Generator, sched):
    z_n = norm.forward(batch["z"])  # (B, 32, h, w)
    scheme = tuple(SCHEME_CONDITIONS)[int(torch.randint(len(SCHEME_CONDITIONS), (1,), generator=gen))]
    cond = drop_conditions(scheme_conditions(batch, norm, scheme, gen, z_n), cfg.p_drop, gen)
    T = sched.config.num_train_timesteps
    t = torch.randint(0, T, (z_n.shape[0],), generator=gen)  # (B,)
    t = torch.where(torch.rand(z_n.shape[0], generator=gen) < cfg.one_step_p, torch.full_like(t, T - 1), t)
    x_t = sched.add_noise(z_n, torch.randn(z_n.shape, generator=gen), t)
    z0 = model.denoiser(x_t, t, cond)  # (B, 32, h, w)
    lat = F.mse_loss(z0, z_n)
    n = cfg.pixel_batch
    with torch.no_grad():
        target = dec(batch["z"][:n]).clamp(0, 1)  # (n, 3, H, W)
    y = dec(norm.inverse(z0[:n]))
    pix, perc = F.mse_loss(y, target), effnet_distance(y, target)
    return lat + cfg.pixel_weight * pix + cfg.perceptual_weight * perc, {"lat": lat.item(), "pix": pix.item(), "perc": perc.item()}


@torch.no_grad()
def validate(model: Generator, norm: Normaliser, dec, cache: SemanticCache, val: np.ndarray) -> dict[str, float]:
    """Held-out cache entries at 256 x 256, each scheme's conditions (noiseless key latents), one DDIM step from
    noise: PSNR against TAEF2's own reconstruction, and effnet_dist."""
    model.eval()
    a = cache.arrays
    batch = {k: torch.from_numpy(a[k][val]).float() if k != "labels" else torch.from_numpy(a[k][val]) for k in a}
    target = dec(batch["z"]).clamp(0, 1)  # (V, 3, 256, 256)
    z_n = norm.forward(batch["z"])
    out = {}
    for scheme in SCHEME_CONDITIONS:
        cond = scheme_conditions(batch, norm, scheme, torch.Generator().manual_seed(0), z_n, key_noise=False)
        z0 = sample(model.denoiser, cond, tuple(z_n.shape), steps=1, generator=torch.Generator().manual_seed(0))
        y = dec(norm.inverse(z0)).clamp(0, 1)
        mse = ((y - target) ** 2).mean((1, 2, 3)).clamp_min(1e-10)
        out[f"{scheme}_psnr"] = float((10 * torch.log10(1 / mse)).mean())
        out[f"{scheme}_effnet"] = float(effnet_distance(y, target))
    if "layout4" in a:  # the floor spic must beat: its layout alone, decoded
        y = dec(batch["layout4"]).clamp(0, 1)
        out["layout4_effnet"] = float(effnet_distance(y, target))
    model.train()
    return out


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) entry indices: a fixed share held out."""
    order = np.random.default_rng(1).permutation(n)
    k = max(1, int(n * VAL_SHARE))
    return np.sort(order[k:]), np.sort(order[:k][:48])


def export(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    meta = json.loads((ckpt_dir / "state.json").read_text())
    cfg = TrainConfig(**meta["train"])
    state = load_file(ckpt_dir / "model.safetensors")
    model, norm = Generator(), Normaliser(state.pop("norm.mean"), state.pop("norm.std"))
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{GENERATOR}.safetensors"
    save_denoiser(model.denoiser, path, {"train": json.dumps(meta["train"]), "step": str(meta["step"]), **normaliser_metadata(norm)})
    c = model.denoiser.config
    val = next(h["val"] for h in reversed(meta["history"]) if "val" in h)
    curve = curve_rows(meta, ("lat", "pix", "perc"))
    card = f"""# Model card: `{GENERATOR}`

The semantic generator of `spic`, `keyregion` and `full` with `codec=taef2` (`shared/training/semantic_taef2.py`): a
diffusers `UNet2DModel` predicting the clean, normalised TAEF2 latent (32 x H/8 x W/8) from the side information
(`shared/generators/semantic_taef2.py`): the TAEF2 latent of the coded low-res image upsampled (`layout`), the
ESPNetv2-VOC map as class fractions per latent cell (`classes`), the key latents with their mask (`key`), and the
caption's MiniLM embedding, each with a presence flag. Decoded by TAEF2's decoder.
{sum(p.numel() for p in model.parameters()):,} parameters, {path.stat().st_size / 1e6:.2f} MB (fp16).

| | |
| --- | --- |
| architecture | UNet2DModel, levels {list(c.block_out_channels)}, attention {list(c.attention_levels)}, {c.layers_per_block} ResNet block per level; {c.train_timesteps} timesteps, {c.beta_schedule}; stored fp16 with the latent normalisation (per-channel mean and std of the cache) in its metadata |
| frozen | TAEF2 (encoder for the cache, decoder for the pixel terms) |
| data | `{meta['cache']}`: {meta['train_entries']} training entries of {meta['cache_entries']} (the corpus training split, 256 x 256 centre crops; `semcom train semantic-cache`); random 128 x 128 crops, flips |
| conditions in training | one scheme's set per batch, uniformly: spic (layout at 1/4 + classes), keyregion (layout at 1/32 + key + caption), full (classes + key + caption); then each dropped with p = {cfg.p_drop:g}. Key: the crop's latent under one or two random boxes plus Gaussian noise of std U[0, {KEY_NOISE_MAX:g}]; caption: the structured captioner's text for the whole crop |
| loss | MSE(z0, z_n) + {cfg.pixel_weight:g} x MSE(D(z0), D(z)) + {cfg.perceptual_weight:g} x effnet_dist(D(z0), D(z)) on {cfg.pixel_batch} crops a batch; **perceptual loss: yes** (EfficientNet-Lite0 features, what `semcom eval` reports as `effnet_dist`: judge it also by PSNR, MS-SSIM and mIoU) |
| optimiser | Adam (0.9, 0.99), peak lr {cfg.lr:g}, {cfg.warmup} warm-up steps, cosine to lr/50 over {cfg.steps} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {cfg.batch}) |
| wall time | {meta['wall_s'] / 60:.1f} min |
| hardware | {meta.get('hardware', cpu_model())}, CPU only, {meta.get('threads', 1)} thread(s), torch {torch.__version__} |
| command | `{meta['command']}` (then `--export`) |

## Validation: {len(split(meta['cache_entries'])[1])} held-out cache entries at 256 x 256, one DDIM step from noise
PSNR (dB, against TAEF2's own reconstruction) and effnet_dist per scheme; key latents noiseless;
`layout4_effnet` is spic's low-res layout alone: {', '.join(f'{k} {v:.3f}' for k, v in val.items())}

## Training curve
| step | wall s | lat | pix | perc | validation |
| --- | --- | --- | --- | --- | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else "")
    (out_dir / f"{GENERATOR}.md").write_text(card)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); validation {val}")
    return path


class Trained(torch.nn.Module):
    """What a checkpoint holds: the generator and the normalisation it trains with (kept with it, not trained)."""

    def __init__(self, norm: Normaliser):
        super().__init__()
        self.model, self.norm = Generator(), norm
        self.norm.requires_grad_(False)


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="semcom train semantic-taef2", description="Train / export the TAEF2 semantic generator of spic, "
                  "keyregion and full from the semantic cache (build it first: semcom train semantic-cache).")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="cache root (default: %(default)s)")
    p.add_argument("--ckpt-dir", type=Path, default=Path("out") / GENERATOR, help="checkpoint folder (resumes); default %(default)s")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="total steps (the cosine schedule's length)")
    p.add_argument("--batch", type=int, default=TrainConfig.batch, help="crops per step")
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="peak learning rate")
    p.add_argument("--init", type=Path, default=None, help="a new run starts from this checkpoint's model.safetensors "
                   "(its features kept, its output layer zeroed: the prediction starts at the residual condition)")
    add_run_args(p, minutes=50.0)
    args = p.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        if args.export:
            if not (args.ckpt_dir / "state.json").exists():
                raise UsageError(f"no checkpoint in {args.ckpt_dir}; train first")
            export(args.ckpt_dir, args.out_dir, args.note)
            return 0
        cfg = replace(TrainConfig(), steps=args.steps, batch=args.batch, lr=args.lr)
        torch.manual_seed(cfg.seed)
        cache = SemanticCache(args.cache_dir / FOLDER)
        train_idx, val_idx = split(len(cache))
        trained = Trained(Normaliser(cache.mean, cache.std))
        if args.init is not None and not (args.ckpt_dir / "state.json").exists():
            if not args.init.is_file():
                raise UsageError(f"--init {args.init}: no such checkpoint file")
            trained.load_state_dict(load_file(args.init))
            trained.model.denoiser.reset_output()
        dec, sched = decoder(), make_scheduler(SEMANTIC_TAEF2_DENOISER)
        command = "semcom train semantic-taef2 " + " ".join(argv if argv is not None else sys.argv[1:])
        fit("semantic-taef2", "semantic-taef2", trained, [{"params": list(trained.model.parameters()), "lr_scale": 1.0}],
            lambda b, g: step_loss(trained.model, trained.norm, dec, b, cfg, g, sched),
            lambda: validate(trained.model, trained.norm, dec, cache, val_idx), CacheBatches(cache, train_idx, cfg),
            args.ckpt_dir, cfg, args.minutes, args.ckpt_every, args.log_every, command)
        return 0

    return run_cli("semcom train semantic-taef2", body)


if __name__ == "__main__":
    raise SystemExit(main())
