"""Train LRISC's two trainable parts on top of the frozen embedded latent codec.

``--stage jscc``: the SNR-adaptive latent JSCC (:mod:`shared.nets.latent_jscc`).
    z_n = E(x) / std  ->  encoder (tx SNR)  ->  first k maps as unit-power symbols
    ->  AWGN or Rayleigh block fading + ZF  ->  MMSE scaling  ->  decoder (rx SNR)  ->  z_hat
    loss = MSE(z_hat, z_n) + pixel_weight * MSE(D(z_hat * std), x)
``--stage diffusion``: the conditional denoiser (:mod:`shared.generators.diffusion`), with
    the trained JSCC frozen and run on a fresh channel draw for every batch:
    x_t = sqrt(a_t) z_n + sqrt(1 - a_t) eps,   z0 = UNet(x_t, t | z_hat, snr)   (conditions dropped with p_drop)
    loss = MSE(z0, z_n) + pixel_weight * (MSE(D(z0 * std), x) + perceptual_weight * effnet_dist(D(z0 * std), x))
    D is the receiver's own copy of the latent decoder, trained jointly (at decoder_lr_scale x lr)
    and exported as ``lrisc_latent_ae``: generated latents need not decode like encoded ones.
``--stage decoder``: the receiver's latent decoder tuned on what the trained JSCC delivers (``steps=0``, the
    default receiver): the JSCC frozen and run on a fresh channel draw per batch, a copy of D trained on
    loss = pixel_weight * (MSE(D(z_hat * std), x) + perceptual_weight * effnet_dist(D(z_hat * std), x))
    and exported as ``lrisc_decoder_ae`` (the same encoder and latent_std: every transmitter stays valid).
    The perceptual term is the EfficientNet-Lite0 feature distance that ``semcom eval`` also
    reports as ``effnet_dist``; the model card says so, and the eval shows PSNR, MS-SSIM and
    semantic agreement beside it, which no loss here optimises directly (PSNR only through MSE).

Channel and rate in training follow :mod:`shared.training.jscc` (its channel is reused):
SNR ~ U[0, 20] dB per sample, 20% Rayleigh block fading, a random prefix of maps in 40% of
batches. Data: the media folder's photos and video frames as random crops; validation on
scikit-image's photos at 256x256, never trained on. Checkpoints are safetensors (resumable);
``--export`` writes ``shared/weights/lrisc_jscc.*``, ``lrisc_decoder_ae.*`` or ``lrisc_diffusion.*`` (+ ``lrisc_latent_ae``)
with a model card.

    OMP_NUM_THREADS=1 semcom train lrisc --stage jscc --minutes 15
    OMP_NUM_THREADS=2 semcom train lrisc --stage decoder --data corpus:../shared/corpus --minutes 45
    OMP_NUM_THREADS=1 semcom train lrisc --stage diffusion --minutes 45
"""
from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from shared.bench.hardware import cpu_model
from shared.cli import CliParser, UsageError, run_cli
from shared.codecs.latent_conv import save_conv_ae
from shared.generators.diffusion import (
    ConditionalDenoiser,
    drop_conditions,
    latent_guidance,
    make_scheduler,
    sample,
    save_denoiser,
)
from shared.nets.jscc import from_symbols, mmse_scale, snr_from_noise_var, to_symbols
from shared.nets.latent_jscc import LatentJSCC, load_latent_jscc_file
from shared.nets.weights_file import WEIGHTS_DIR, save_configured
from shared.training.data import DataSource, add_data_args, add_run_args, parse_data_source
from shared.training.jscc import channel, train_snrs
from shared.training.latent import psnr, validation_images
from shared.training.loop import CropBatches, fit

STAGES = ("jscc", "decoder", "diffusion")
WEIGHT_NAMES = {"jscc": "lrisc_jscc", "decoder": "lrisc_decoder_ae", "diffusion": "lrisc_diffusion"}
DEFAULT_LR = {"jscc": 1e-3, "decoder": 2e-4, "diffusion": 2e-4}  # decoder: a pretrained network, fine-tuned
# effnet_dist per pixel-MSE unit: diffusion 0.25; decoder 0.005 (20 x MSE + 0.1 x effnet_dist, TAEF2's receiver decoder's terms)
DEFAULT_PERCEPTUAL = {"jscc": 0.0, "decoder": 0.005, "diffusion": 0.25}
RECEIVER_AE = "lrisc_latent_ae"  # the diffusion stage's output: the latent codec with the receiver's tuned decoder
VAL_SNRS_DB = (0.0, 10.0, 20.0)  # both ends and the middle of the training range
VAL_STEPS = 4  # DDIM steps from pure noise in validation: the full generative loop, not a one-shot estimate


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000  # jscc: ~0.25 s/step; diffusion: ~0.6 s/step (batch 8, 128x128, one CPU thread)
    batch: int = 8  # small batches: more updates per CPU second
    crop: int = 128  # a 16x16 latent: divisible by the UNet's 4x and the JSCC's 2x
    lr: float = 1e-3  # Adam peak; cosine decay to lr/50 (2e-4 is used for the diffusion stage, below)
    warmup: int = 200  # steps of linear warm-up
    min_scale: float = 0.25  # crops from images downscaled by [min_scale, 1], as the other embedded models
    fading_p: float = 0.2  # share of samples with Rayleigh block fading + ZF
    full_rate_p: float = 0.6  # share of batches sending all maps; the rest a random shorter prefix
    pixel_weight: float = 20.0  # pixel MSE (~0.005) against latent MSE (~0.1): both matter
    perceptual_weight: float = 0.25  # effnet_dist (~0.5) per pixel-MSE unit; 0 = none; the CLI sets it per stage (DEFAULT_PERCEPTUAL)
    p_drop: float = 0.1  # diffusion stage: condition dropout (classifier-free guidance)
    decoder_lr_scale: float = 0.25  # diffusion stage: the receiver's latent decoder is pretrained, so it moves slower
    seed: int = 0  # reproducible crops, channel, timesteps and init


class DiffusionStage(nn.Module):
    """What the diffusion stage trains: the denoiser, and the receiver's own copy of the latent
    decoder, tuned jointly so that the generated latents decode to sharper pictures."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.denoiser = ConditionalDenoiser()
        self.decoder = copy.deepcopy(decoder).requires_grad_(True)


class DecoderStage(nn.Module):
    """What the decoder stage trains: the receiver's own copy of the latent decoder."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = copy.deepcopy(decoder).requires_grad_(True)


class Frozen:
    """The frozen parts: latent codec (E, D, per-channel std) and, for the decoder and diffusion stages, the JSCC."""

    def __init__(self, jscc_weights: Path | None):
        from shared.registry.table import load_model

        codec = load_model("latent-conv-ae", role="latent_codec")
        self.ae = codec.net.eval().requires_grad_(False)
        self.std = codec.latent_std.view(1, -1, 1, 1)  # (1, L, 1, 1)
        self.jscc = load_latent_jscc_file(jscc_weights).requires_grad_(False) if jscc_weights else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> normalised latent z_n (B, L, H/8, W/8)."""
        with torch.no_grad():
            return self.ae.encoder(x * 2 - 1) / self.std

    def decode(self, z_n: torch.Tensor, decoder: nn.Module | None = None) -> torch.Tensor:
        """Normalised latent (B, L, h, w) -> (B, 3, 8h, 8w), unclamped; gradients flow to z_n (and ``decoder``)."""
        return (self.ae.decoder if decoder is None else decoder)(z_n * self.std) * 0.5 + 0.5


def through_channel(jscc: LatentJSCC, z_n: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                    snr_db: torch.Tensor | None = None, k: int | None = None,
                    fading: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z_n (B, L, h, w) -> (z_hat (B, L, h, w), receiver SNR estimate (B, 1) dB) over one random channel draw."""
    b, _, h, w = z_n.shape
    snr_db, tx_snr = train_snrs(b, gen, snr_db)
    if fading is None:
        fading = torch.rand(b, generator=gen) < cfg.fading_p  # (B,)
    if k is None:
        rates = jscc.config.rates
        k = rates[-1] if float(torch.rand(1, generator=gen)) < cfg.full_rate_p else rates[int(torch.randint(len(rates) - 1, (1,), generator=gen))]
    s = jscc.encode(z_n, tx_snr)  # (B, C, h/2, w/2)
    x_hat, nv = channel(to_symbols(s, k), snr_db, fading, gen)  # (B, N) each
    rx_snr = snr_from_noise_var(nv)  # (B, 1)
    s_hat = from_symbols(mmse_scale(x_hat, nv), jscc.config.maps, h // 2, w // 2)  # (B, C, h/2, w/2)
    return jscc.decode(s_hat, rx_snr), rx_snr


def effnet_distance(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    from shared.metrics.perceptual import effnet_dist

    return effnet_dist(y.clamp(0, 1), x).mean()


@torch.no_grad()
def validate(stage: str, model: torch.nn.Module, frozen: Frozen, cfg: TrainConfig) -> dict[str, float]:
    """Validation photos at 256x256, AWGN, full rate: PSNR per SNR and effnet_dist (mean), plus the codec's own ceiling."""
    model.eval()
    imgs = torch.stack([torch.from_numpy(img).permute(2, 0, 1).float() / 255 for _, img in validation_images()])  # (6, 3, 256, 256)
    ref = (imgs * 255).round().byte().permute(0, 2, 3, 1).numpy()
    z_n = frozen.encode(imgs)  # (6, L, 32, 32)
    jscc = model if stage == "jscc" else frozen.jscc
    gen = torch.Generator().manual_seed(1234)
    scores, dists = {}, []
    for s in VAL_SNRS_DB:
        snr = torch.full((imgs.shape[0], 1), s)
        z_hat, rx_snr = through_channel(jscc, z_n, cfg, gen, snr_db=snr, k=jscc.config.maps,
                                        fading=torch.zeros(imgs.shape[0], dtype=torch.bool))
        if stage == "diffusion":
            z0 = sample(model.denoiser, latent_guidance(z_hat, rx_snr), tuple(z_hat.shape), steps=VAL_STEPS,
                        generator=torch.Generator().manual_seed(0))
            y = frozen.decode(z0, model.decoder).clamp(0, 1)  # (6, 3, 256, 256)
        elif stage == "decoder":
            y = frozen.decode(z_hat, model.decoder).clamp(0, 1)  # (6, 3, 256, 256)
        else:
            y = frozen.decode(z_hat).clamp(0, 1)
        out = (y * 255).round().byte().permute(0, 2, 3, 1).numpy()
        scores[f"snr{s:g}"] = float(np.mean([psnr(a, b) for a, b in zip(ref, out)]))
        dists.append(float(effnet_distance(y, imgs)))
    scores["mean"] = float(np.mean(list(scores.values())))
    scores["effnet_dist"] = float(np.mean(dists))
    model.train()
    return scores


def jscc_loss(net: LatentJSCC, frozen: Frozen, x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
    z_n = frozen.encode(x)  # (B, L, h, w)
    z_hat, _ = through_channel(net, z_n, cfg, gen)
    lat = F.mse_loss(z_hat, z_n)
    pix = F.mse_loss(frozen.decode(z_hat), x)
    return lat + cfg.pixel_weight * pix, {"lat": lat.item(), "pix": pix.item()}


def pixel_terms(y: torch.Tensor, x: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel MSE, effnet_dist or 0 where the perceptual weight is 0) of a decoded batch y (B, 3, H, W) against x."""
    return F.mse_loss(y, x), effnet_distance(y, x) if cfg.perceptual_weight else torch.zeros(())


def decoder_loss(model: DecoderStage, frozen: Frozen, x: torch.Tensor, cfg: TrainConfig,
                 gen: torch.Generator) -> tuple[torch.Tensor, dict]:
    z_n = frozen.encode(x)  # (B, L, h, w)
    with torch.no_grad():
        z_hat, _ = through_channel(frozen.jscc, z_n, cfg, gen)  # (B, L, h, w)
    pix, perc = pixel_terms(frozen.decode(z_hat, model.decoder), x, cfg)
    return cfg.pixel_weight * (pix + cfg.perceptual_weight * perc), {"pix": pix.item(), "perc": perc.item()}


def diffusion_loss(model: DiffusionStage, frozen: Frozen, x: torch.Tensor, cfg: TrainConfig,
                   gen: torch.Generator, sched) -> tuple[torch.Tensor, dict]:
    z_n = frozen.encode(x)  # (B, L, h, w)
    with torch.no_grad():
        z_hat, rx_snr = through_channel(frozen.jscc, z_n, cfg, gen)
    t = torch.randint(0, sched.config.num_train_timesteps, (x.shape[0],), generator=gen)  # (B,)
    x_t = sched.add_noise(z_n, torch.randn(z_n.shape, generator=gen), t)  # (B, L, h, w)
    z0 = model.denoiser(x_t, t, drop_conditions(latent_guidance(z_hat, rx_snr), cfg.p_drop, gen))  # (B, L, h, w)
    lat = F.mse_loss(z0, z_n)
    pix, perc = pixel_terms(frozen.decode(z0, model.decoder), x, cfg)  # decoded (B, 3, H, W)
    loss = lat + cfg.pixel_weight * (pix + cfg.perceptual_weight * perc)
    return loss, {"lat": lat.item(), "pix": pix.item(), "perc": perc.item()}


def train(stage: str, data: DataSource, ckpt_dir: Path, cfg: TrainConfig, minutes: float, video_stride: int,
          ckpt_every: int, log_every: int, command: str, init: Path | None = None) -> None:
    """Train ``stage`` until ``cfg.steps`` or ``minutes``, checkpointing to ``ckpt_dir`` (resumes from it).

    ``init`` (jscc stage): start from these exported JSCC weights, e.g. to adapt the shipped JSCC to a new latent decoder."""
    torch.manual_seed(cfg.seed)
    frozen = Frozen(WEIGHTS_DIR / f"{WEIGHT_NAMES['jscc']}.safetensors" if stage != "jscc" else None)
    if stage == "diffusion":
        model: torch.nn.Module = DiffusionStage(frozen.ae.decoder)
    elif stage == "decoder":
        model = DecoderStage(frozen.ae.decoder)
    else:
        model = LatentJSCC() if init is None else load_latent_jscc_file(init).train()
    if init is not None:
        print(f"initialised from {init}", flush=True)
    sched = make_scheduler(model.denoiser.config) if stage == "diffusion" else None
    step_loss: Callable = {"jscc": lambda x, g: jscc_loss(model, frozen, x, cfg, g),
                           "decoder": lambda x, g: decoder_loss(model, frozen, x, cfg, g),
                           "diffusion": lambda x, g: diffusion_loss(model, frozen, x, cfg, g, sched)}[stage]
    groups = [{"params": list(model.parameters()), "lr_scale": 1.0}] if stage != "diffusion" else \
        [{"params": list(model.denoiser.parameters()), "lr_scale": 1.0},
         {"params": list(model.decoder.parameters()), "lr_scale": cfg.decoder_lr_scale}]
    fit(f"lrisc {stage}", stage, model, groups, step_loss, lambda: validate(stage, model, frozen, cfg),
        CropBatches(data, video_stride, cfg), ckpt_dir, cfg, minutes, ckpt_every, log_every, command)


def export(stage: str, ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    """Write ``shared/weights/<lrisc_stage>.safetensors`` and its model card from the latest checkpoint."""
    meta = json.loads((ckpt_dir / "state.json").read_text())
    cfg = TrainConfig(**meta["train"])
    name = WEIGHT_NAMES[stage]
    frozen = Frozen(None)
    stage_model = LatentJSCC() if stage == "jscc" else \
        (DecoderStage if stage == "decoder" else DiffusionStage)(frozen.ae.decoder)
    stage_model.load_state_dict(load_file(ckpt_dir / "model.safetensors"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    tags = {"train": json.dumps(meta["train"]), "step": str(meta["step"])}
    if stage == "jscc":
        model = stage_model
        save_configured(model, path, tags)
    elif stage == "decoder":
        model = stage_model.decoder
        tuned_ae = copy.deepcopy(frozen.ae)
        tuned_ae.decoder.load_state_dict(model.state_dict())
        save_conv_ae(tuned_ae, path, frozen.std.flatten())
    else:
        model = stage_model.denoiser
        save_denoiser(model, path, tags)
        receiver_ae = copy.deepcopy(frozen.ae)
        receiver_ae.decoder.load_state_dict(stage_model.decoder.state_dict())
        save_conv_ae(receiver_ae, out_dir / f"{RECEIVER_AE}.safetensors", frozen.std.flatten())
    n_params = sum(p.numel() for p in model.parameters())
    val = next(h["val"] for h in reversed(meta["history"]) if "val" in h)
    terms = [k for k in ("lat", "pix", "perc") if k in meta["history"][-1] or any(k in h for h in meta["history"])]
    curve = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | " + " | ".join(f"{h.get(k, float('nan')):.4f}" for k in terms) + " | "
                      + ", ".join(f"{k} {v:.3f}" for k, v in h["val"].items()) + " |" for h in meta["history"] if "val" in h)
    if stage == "jscc":
        what = (f"LRISC's SNR-adaptive latent JSCC (`shared/nets/latent_jscc.py`): the embedded latent codec's "
                f"normalised latent -> up to {model.config.maps} importance-ordered maps at 1/16 of the image side "
                f"(any prefix of {list(model.config.rates)} maps is sendable: CBR 1/192 ... 1/48, as `deepjscc`) -> back.")
        loss = f"MSE(z_hat, z_n) + {cfg.pixel_weight:g} x MSE(D(z_hat), x) through the frozen latent decoder D"
        arch = f"width {model.config.width}, one stride-2 stage, residual blocks, ADJSCC AF modules (hidden {model.config.af_hidden}) on both sides"
    elif stage == "decoder":
        what = ("The embedded latent codec `latent_conv_ae` (the same encoder weights and `latent_std`) with its decoder "
                "tuned at LRISC's receiver on what the frozen JSCC `lrisc_jscc` delivers: `lrisc` decodes with it when it "
                "does not sample (`steps=0`, the default; `decoder=tuned`). Only the receiver changes: every transmitter "
                "stays valid.")
        loss = (f"{cfg.pixel_weight:g} x (MSE(D(z_hat), x) + {cfg.perceptual_weight:g} x effnet_dist(D(z_hat), x)), z_hat the "
                f"frozen JSCC's output over a fresh channel draw per batch; **perceptual loss: yes**, the EfficientNet-Lite0 "
                f"feature distance that `semcom eval` reports as `effnet_dist` (so judge it also by PSNR, MS-SSIM and "
                f"semantic agreement)")
        arch = "the decoder of `latent_conv_ae`, unchanged in shape (the encoder ships with it, frozen)"
    else:
        what = ("LRISC's conditional diffusion generator (`shared/generators/diffusion.py`): a diffusers `UNet2DModel` "
                "predicting the clean latent, conditioned on the received latent z_hat (concatenated) and the SNR "
                "(sinusoidal features into the timestep embedding), each with a presence flag; sampled with DDIM.")
        loss = (f"MSE(z0, z_n) + {cfg.pixel_weight:g} x (MSE(D(z0), x) + {cfg.perceptual_weight:g} x effnet_dist(D(z0), x)); "
                f"**perceptual loss: yes**, the EfficientNet-Lite0 feature distance that `semcom eval` reports as "
                f"`effnet_dist` (so judge it also by PSNR, MS-SSIM and semantic agreement, which it does not optimise); "
                f"condition dropout p = {cfg.p_drop:g} (classifier-free guidance). The latent decoder D starts as "
                f"`latent_conv_ae`'s and trains jointly at {cfg.decoder_lr_scale:g} x lr; it ships as `{RECEIVER_AE}` "
                f"(the same encoder, the receiver's tuned decoder), which `lrisc` decodes with when it samples")
        c = model.config
        arch = (f"UNet2DModel, levels {list(c.block_out_channels)}, attention {list(c.attention_levels)}, "
                f"{c.layers_per_block} ResNet block per level; {c.train_timesteps} timesteps, {c.beta_schedule}; "
                f"spatial conditions {[n for n, _ in c.spatial]}, vector conditions {[n for n, _ in c.vector]}; stored fp16")
    card = f"""# Model card: `{name}`

{what} {n_params:,} parameters, {path.stat().st_size / 1e6:.2f} MB.

| | |
| --- | --- |
| architecture | {arch} |
| frozen | {'the embedded latent codec `latent_conv_ae`' if stage == 'jscc' else 'the latent encoder of `latent_conv_ae` and `lrisc_jscc`'} |
| data | `{meta.get('data', 'folder:../shared/media')}`: every photo and every {meta.get('video_stride', 5)}th video frame; random crops {cfg.crop}x{cfg.crop} at scales [{cfg.min_scale}, 1], flips |
| channel | SNR U[0, 20] dB per sample; AWGN, Rayleigh block fading + ZF for {cfg.fading_p:.0%} of samples; MMSE-scaled symbols; transmitter SNR = true SNR half the time; all maps in {cfg.full_rate_p:.0%} of batches, else a random shorter prefix |
| loss | {loss} |
| optimiser | Adam (0.9, 0.99), peak lr {cfg.lr:g}, {cfg.warmup} warm-up steps, cosine to lr/50 over {cfg.steps} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {cfg.batch}) |
| wall time | {meta['wall_s'] / 60:.1f} min |
| hardware | {meta.get('hardware', cpu_model())}, CPU only, {meta.get('threads', 1)} thread(s), torch {torch.__version__} |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation: scikit-image photos at 256x256 (never trained on), AWGN, CBR 1/48{', DDIM ' + str(VAL_STEPS) + ' steps' if stage == 'diffusion' else ''}
PSNR (dB) per SNR, and effnet_dist averaged over the SNRs: {', '.join(f'{k} {v:.3f}' for k, v in val.items())}

## Training curve
| step | wall s | {' | '.join(terms)} | validation |
| --- | --- | {' | '.join('---' for _ in terms)} | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else "")
    (out_dir / f"{name}.md").write_text(card)
    if stage == "diffusion":
        (out_dir / f"{RECEIVER_AE}.md").write_text(
            f"# Model card: `{RECEIVER_AE}`\n\nThe embedded latent codec `latent_conv_ae` (same architecture, same "
            f"encoder weights, same `latent_std`) with the decoder that LRISC's receiver tuned jointly with its "
            f"diffusion generator, at {cfg.decoder_lr_scale:g} x the generator's learning rate. `lrisc` decodes with it "
            f"whenever it samples (steps > 0). Data, command, hardware, losses and validation: `{name}.md`, the same run.\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); validation {val}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="semcom train lrisc", description="Train / export LRISC's latent JSCC, the receiver's tuned latent "
                  "decoder and the conditional diffusion generator (train --stage jscc first: the decoder and diffusion "
                  "stages work on its output).")
    p.add_argument("--stage", choices=STAGES, required=True, help="which part to train or export")
    add_data_args(p)
    p.add_argument("--ckpt-dir", type=Path, default=None, help="checkpoint folder (resumes); default out/lrisc_<stage>")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="total steps (the cosine schedule's length)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-3 jscc, 2e-4 decoder and diffusion)")
    p.add_argument("--perceptual-weight", type=float, default=None,
                   help="decoder and diffusion: effnet_dist weight per pixel-MSE unit (default: 0.005 decoder, 0.25 diffusion; 0 = none)")
    p.add_argument("--init-from", type=Path, default=None, metavar="SAFETENSORS",
                   help="jscc: start from these exported JSCC weights (e.g. shared/weights/lrisc_jscc.safetensors, "
                        "to adapt it to a fine-tuned latent decoder); default: a random init")
    add_run_args(p, minutes=45.0)
    args = p.parse_args(argv)
    ckpt_dir = args.ckpt_dir or Path("out") / WEIGHT_NAMES[args.stage]

    def body() -> int:
        torch.set_num_threads(args.threads)
        if args.export:
            if not (ckpt_dir / "state.json").exists():
                raise UsageError(f"no checkpoint in {ckpt_dir}; train first")
            export(args.stage, ckpt_dir, args.out_dir, args.note)
            return 0
        if args.init_from is not None and (args.stage != "jscc" or not args.init_from.is_file()):
            raise UsageError(f"--init-from {args.init_from}: " + ("only the jscc stage starts from exported weights"
                                                         if args.stage != "jscc" else "no such weights file"))
        if args.stage != "jscc" and not (WEIGHTS_DIR / f"{WEIGHT_NAMES['jscc']}.safetensors").is_file():
            raise UsageError(f"the {args.stage} stage needs the exported latent JSCC: semcom train lrisc --stage jscc, then --export")
        lr = args.lr if args.lr is not None else DEFAULT_LR[args.stage]
        weight = args.perceptual_weight if args.perceptual_weight is not None else DEFAULT_PERCEPTUAL[args.stage]
        cfg = replace(TrainConfig(), steps=args.steps, lr=lr, perceptual_weight=weight)
        command = "semcom train lrisc " + " ".join(argv if argv is not None else sys.argv[1:])
        train(args.stage, parse_data_source(args.data), ckpt_dir, cfg, args.minutes, args.video_stride, args.ckpt_every,
              args.log_every, command, init=args.init_from)
        return 0

    return run_cli("semcom train lrisc", body)


if __name__ == "__main__":
    raise SystemExit(main())
