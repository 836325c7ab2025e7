"""Train LRISC's latent JSCC in the TAEF2 latent space, from the latent cache (the encoder never runs here).

``--stage jscc``: the SNR-adaptive latent JSCC (:mod:`shared.nets.latent_jscc`, ``rate_input``):
    z_n = (z - mean) / std  (per channel, from the cache's stats)  ->  encoder (tx SNR)  ->  64 maps
    at the symbol grid (1/16 of the image side) -> per length-map block of BLOCK x BLOCK cells the
    first k maps (k from the rates, random per block) -> unit power -> AWGN or Rayleigh fading
    (one gain per frame or per block) + ZF -> LMMSE -> decoder (rx SNR, length map) -> z_hat
    loss = MSE(z_hat, z_n) + every ``pixel_every`` steps, on ``pixel_batch`` samples:
           pixel_weight * MSE(D(z_hat), D(z)) + perceptual_weight * effnet_dist(D(z_hat), D(z))
    with D the frozen TAEF2 decoder: the loss is measured where the picture is, on what TAEF2
    itself would show for the clean latent (the cache holds latents, not pixels).

``--stage diffusion``: the conditional denoiser (:mod:`shared.generators.diffusion`) in TAEF2's latent
    space, with the exported JSCC frozen and a fresh channel draw per batch:
    x_t = sqrt(a_t) z_n + sqrt(1 - a_t) eps,  z0 = UNet(x_t, t | z_hat, snr)  (conditions dropped with p_drop)
    loss = MSE(z0, z_n) + on every ``pixel_every``th step the decoder-space terms, as the JSCC stage.
    Export measures, per SNR and length, the receiver's remaining error var(z_hat - z_n) = e and stores
    a_t = 1 / (1 + e): the receiver starts sampling from z_hat noised to exactly that level (lower SNR,
    more noise, more generation).
``--stage entropy``: the scale hyperprior (:mod:`shared.nets.entropy`) over z_n that gives the
    content-adaptive lengths: minimise bits(z_n | y) + bits(y) with noisy rounding, the NTSCC rate term.

Data: ``semcom train cache --codec taef2 --data corpus:../shared/corpus`` first (the corpus's
training split). Validation: scikit-image's photos at 256x256 (never trained on), encoded once,
AWGN at 0/10/20 dB, at CBR 1/96, 1/48 and 1/24 with one length everywhere.
``--export`` writes ``shared/weights/lrisc_taef2_jscc.*`` with the normalisation in its metadata
(``lrisc_taef2_entropy.*`` for the entropy stage).

    semcom train lrisc-taef2 --stage jscc --minutes 60 --threads 2
    semcom train lrisc-taef2 --stage entropy --steps 3000 --minutes 15
    semcom train lrisc-taef2 --stage diffusion --minutes 90 --threads 2     # after the JSCC's --export
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from shared.bench.hardware import cpu_model
from shared.cli import CliParser, UsageError, run_cli
from shared.generators.diffusion import (
    ConditionalDenoiser,
    DenoiserConfig,
    drop_conditions,
    latent_guidance,
    make_scheduler,
    sample,
    save_denoiser,
)
from shared.nets.entropy import EntropyConfig, Hyperprior, entropy_loss
from shared.nets.jscc import SNR_RANGE_DB
from shared.nets.latent_jscc import LatentJSCC, LatentJSCCConfig, load_latent_jscc_file
from shared.nets.weights_file import WEIGHTS_DIR, save_configured
from shared.schemes.lrisc_nets import TAEF2_TUNED, tuned_decoder_file
from shared.training.data import add_run_args
from shared.training.jscc import train_snrs
from shared.training.latent import psnr, validation_images
from shared.training.latent_cache import DEFAULT_CACHE, SHORT_SIDE, LatentBatches, LatentCache, cache_dir
from shared.training.loop import curve_rows, fit
from shared.training.lrisc import effnet_distance

PROG = "semcom train lrisc-taef2"
CODEC = "taef2"
WEIGHT_NAME = "lrisc_taef2_jscc"
ENTROPY_NAME = "lrisc_taef2_entropy"
DIFFUSION_NAME = "lrisc_taef2_diffusion"
DIFFUSION_CONFIG = DenoiserConfig(
    latent_channels=32, spatial=(("z_hat", 32),),  # TAEF2's latent, conditioned on the received one
    block_out_channels=(64, 128, 128), attention_levels=(False, False, True),  # as the embedded generator: ~4 M params
)
STRENGTH_SNRS_DB = (0.0, 5.0, 10.0, 15.0, 20.0)  # where export measures the remaining error
BLOCK = 4  # symbol-grid cells per side of one length-map block: 64x64 pixels, 16 blocks per 256x256 frame
JSCC_CONFIG = LatentJSCCConfig(
    latent_channels=32,  # TAEF2's latent channels
    width=128,  # as the embedded one: 2.2 M parameters, ~0.2 s a step on 2 CPU threads (192: 4.6 M, 2.6x slower)
    maps=64,  # 64 x 16 x 16 reals per 256x256 = 8,192 symbols: CBR 1/24 when every map is sent
    rates=(8, 16, 24, 32, 48, 64),  # sendable prefixes per block: CBR 1/192, 1/96, 1/64, 1/48, 1/32, 1/24
    rate_input=True,  # blocks of different lengths: the decoder sees the length map
)
VAL_SNRS_DB = (0.0, 10.0, 20.0)  # both ends and the middle of the training range
VAL_MAPS = (16, 32, 64)  # CBR 1/96, 1/48, 1/24: the operating points the issue names


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 12000  # ~0.35 s/step on 2 CPU threads with the decoder-space loss every 10th step: ~70 min
    batch: int = 16  # latent crops are small: a larger batch costs little
    crop: int = 16  # latent cells per side (128x128 pixels): a multiple of 2 x BLOCK
    lr: float = 1e-3  # Adam peak, as the embedded latent JSCC; cosine decay to lr/50
    warmup: int = 300  # steps of linear warm-up
    fading_p: float = 0.2  # share of samples with Rayleigh fading + ZF (half one gain per frame, half per block)
    uniform_rate_p: float = 0.4  # share of samples with one length everywhere (the fixed-length operating points)
    pixel_every: int = 10  # decoder-space loss on every Nth step: the TAEF2 decoder (~1 s for 2 crops, fwd + bwd) is the slow part
    pixel_batch: int = 2  # samples decoded on those steps
    pixel_weight: float = 20.0  # pixel MSE (~0.003) against latent MSE (~0.1)
    perceptual_weight: float = 0.1  # effnet_dist (~0.3) against latent MSE: present, not dominant
    p_drop: float = 0.1  # diffusion stage: condition dropout (classifier-free guidance)
    adversarial_weight: float = 0.05  # generator stage: the critic's hinge term (~1) against the latent MSE (~0.2): a push, not a takeover
    seed: int = 0  # reproducible crops, rates, channel and init


@lru_cache(maxsize=1)
def frozen_codec():
    """The frozen TAEF2 codec (pinned hashes checked), loaded once."""
    from shared.registry.table import load_model

    return load_model(CODEC, role="latent_codec")


def block_maps(b: int, hb: int, wb: int, rates: tuple[int, ...], cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, hb, wb) maps sent per block: random per block, or one random length for the whole sample."""
    choice = torch.randint(len(rates), (b, hb, wb), generator=gen)  # (B, hb, wb)
    uniform = torch.rand(b, generator=gen) < cfg.uniform_rate_p  # (B,)
    choice = torch.where(uniform[:, None, None], choice[:, :1, :1].expand(b, hb, wb), choice)
    return torch.tensor(rates)[choice]  # (B, hb, wb)


def masked_channel(s: torch.Tensor, maps: torch.Tensor, snr_db: torch.Tensor, fading: torch.Tensor,
                   gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sent prefix of each cell through the channel, as the scheme sends it.

    Args:
        s: (B, M, h, w) encoder maps; consecutive real pairs are complex symbols.
        maps: (B, hb, wb) maps sent per BLOCK x BLOCK block.
        snr_db: (B, 1) true SNR; fading: (B,) bool, Rayleigh for these samples.
    Returns:
        (s_hat (B, M, h, w) LMMSE estimates of the unit-power maps, zero where not sent;
         rx_snr (B, 1) dB as the receiver estimates it from its CSI; rate (B, 1, h, w) share of maps sent).
    """
    b, m, h, w = s.shape
    cell_maps = maps.repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2)  # (B, h, w)
    mask = (torch.arange(m)[None, :, None, None] < cell_maps[:, None]).float()  # (B, M, h, w)
    power = (s.pow(2) * mask).sum((1, 2, 3), keepdim=True) / mask.sum((1, 2, 3), keepdim=True)  # (B, 1, 1, 1) per real
    x = s / torch.sqrt(2 * power + 1e-12)  # each real has variance 1/2: E|x|^2 = 1 per complex symbol
    gain = torch.ones(b, 1, h // BLOCK, w // BLOCK)  # |h|^2 per block
    if bool(fading.any()):
        per_block = torch.distributions.Exponential(1.0).sample((b, 1, h // BLOCK, w // BLOCK))  # |CN(0,1)|^2
        per_frame = per_block[:, :, :1, :1].expand_as(per_block)
        rayleigh = torch.where((torch.rand(b, generator=gen) < 0.5)[:, None, None, None], per_frame, per_block)
        gain = torch.where(fading[:, None, None, None], rayleigh, gain)
    gain = gain.clamp(min=1e-4).repeat_interleave(BLOCK, 2).repeat_interleave(BLOCK, 3)  # (B, 1, h, w)
    nv = 10 ** (-snr_db[:, :, None, None] / 10) / gain  # (B, 1, h, w) post-ZF noise variance per complex symbol
    y = x + torch.randn(x.shape, generator=gen) * torch.sqrt(nv / 2)  # (B, M, h, w)
    s_hat = y / (1 + nv) * mask
    inv = (mask / nv).sum((1, 2, 3)) / mask.sum((1, 2, 3))  # mean 1/nv over sent reals
    rx_snr = (10 * torch.log10(inv)).clamp(*SNR_RANGE_DB)[:, None]  # (B, 1)
    return s_hat, rx_snr, cell_maps[:, None].float() / m


def through_channel(net: LatentJSCC, z_n: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                    snr_db: torch.Tensor | None = None, maps: torch.Tensor | None = None,
                    fading: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z_n (B, L, h, w) -> (z_hat (B, L, h, w), receiver SNR (B, 1) dB) over one random channel draw
    (random SNRs, lengths and fading unless given)."""
    b, _, h, w = z_n.shape
    snr_db, tx_snr = train_snrs(b, gen, snr_db)
    if fading is None:
        fading = torch.rand(b, generator=gen) < cfg.fading_p
    if maps is None:
        maps = block_maps(b, h // 2 // BLOCK, w // 2 // BLOCK, net.config.rates, cfg, gen)
    s = net.encode(z_n, tx_snr)  # (B, M, h/2, w/2)
    s_hat, rx_snr, rate = masked_channel(s, maps, snr_db, fading, gen)
    return net.decode(s_hat, rx_snr, rate), rx_snr


class Normaliser:
    """Per-channel latent normalisation of the cache: z_n = (z - mean) / std and back."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)  # (1, L, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std

    def inverse(self, z_n: torch.Tensor) -> torch.Tensor:
        return z_n * self.std + self.mean


def jscc_loss(net: LatentJSCC, norm: Normaliser, z: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
              with_pixels: bool) -> tuple[torch.Tensor, dict]:
    z_n = norm.forward(z)  # (B, L, h, w)
    z_hat, _ = through_channel(net, z_n, cfg, gen)
    lat = F.mse_loss(z_hat, z_n)
    terms = {"lat": lat.item()}
    loss = lat
    if with_pixels:
        decoder = frozen_codec().net.decoder
        n = cfg.pixel_batch
        with torch.no_grad():
            target = decoder(z[:n]).clamp(0, 1)  # (n, 3, 8h, 8w) what TAEF2 shows for the clean latent
        y = decoder(norm.inverse(z_hat[:n]))  # gradients flow through the frozen decoder to z_hat
        pix = F.mse_loss(y, target)
        perc = effnet_distance(y, target)
        loss = loss + cfg.pixel_weight * pix + cfg.perceptual_weight * perc
        terms.update(pix=pix.item(), perc=perc.item())
    return loss, terms


class Validator:
    """scikit-image's photos at 256x256, encoded once; AWGN, one length everywhere, per SNR and CBR."""

    def __init__(self, norm: Normaliser):
        codec = frozen_codec()
        self.ref = np.stack([img for _, img in validation_images()])  # (6, 256, 256, 3) uint8
        self.z_n = norm.forward(torch.cat(self.latents()))  # (6, L, 32, 32)
        with torch.no_grad():
            ceiling = codec.net.decoder(norm.inverse(self.z_n)).clamp(0, 1)
        self.ceiling = float(np.mean([psnr(a, b) for a, b in zip(self.ref, self.frames(ceiling))]))
        self.norm = norm

    @staticmethod
    @torch.no_grad()
    def latents() -> list[torch.Tensor]:
        """The validation photos' TAEF2 latents, each (1, L, 32, 32), raw scale."""
        return [frozen_codec().net.encoder(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)
                for _, img in validation_images()]

    @staticmethod
    def frames(y: torch.Tensor) -> np.ndarray:
        return (y * 255).round().byte().permute(0, 2, 3, 1).numpy()

    def received(self, net: LatentJSCC, cfg: TrainConfig, gen: torch.Generator, snr_db: float, maps: int = 32
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The validation latents through ``net`` over AWGN at ``snr_db`` with ``maps`` everywhere -> (z_hat, rx SNR)."""
        b, _, h, w = self.z_n.shape
        return through_channel(net, self.z_n, cfg, gen, snr_db=torch.full((b, 1), snr_db),
                               maps=torch.full((b, h // 2 // BLOCK, w // 2 // BLOCK), maps),
                               fading=torch.zeros(b, dtype=torch.bool))

    def picture_scores(self, y: torch.Tensor) -> tuple[float, float]:
        """(B, 3, H, W) decoded validation pictures in [0, 1] -> (mean PSNR dB, effnet_dist) against the photos."""
        ref = torch.from_numpy(self.ref).permute(0, 3, 1, 2).float() / 255
        return float(np.mean([psnr(a, c) for a, c in zip(self.ref, self.frames(y))])), float(effnet_distance(y, ref))

    @torch.no_grad()
    def __call__(self, net: LatentJSCC, cfg: TrainConfig, decoder: torch.nn.Module | None = None) -> dict[str, float]:
        """``decoder``: the pixel decoder to judge (TAEF2's own unless given; the decoder stage passes its copy)."""
        decoder = decoder if decoder is not None else frozen_codec().net.decoder
        modes = [(m, m.training) for m in (net, decoder)]  # restored after: whichever of them is training
        net.eval()
        decoder.eval()
        gen = torch.Generator().manual_seed(1234)
        scores: dict[str, float] = {"codec_psnr": self.ceiling}
        for k in VAL_MAPS:
            psnrs, dists = [], []
            for s in VAL_SNRS_DB:
                z_hat, _ = self.received(net, cfg, gen, s, k)
                p, d = self.picture_scores(decoder(self.norm.inverse(z_hat)).clamp(0, 1))
                psnrs.append(p)
                dists.append(d)
                if k == 32:
                    scores[f"psnr_cbr48_snr{s:g}"] = psnrs[-1]
            cbr = round(1 / (k / (2 * 3 * 16 * 16)))
            scores[f"psnr_cbr{cbr}"] = float(np.mean(psnrs))
            scores[f"effnet_cbr{cbr}"] = float(np.mean(dists))
        for module, training in modes:
            module.train(training)
        return scores


def train(cache: LatentCache, ckpt_dir: Path, cfg: TrainConfig, minutes: float, ckpt_every: int, log_every: int,
          command: str) -> None:
    torch.manual_seed(cfg.seed)
    norm = Normaliser(cache.mean, cache.std)
    net = LatentJSCC(JSCC_CONFIG)
    validator = Validator(norm)
    step = {"n": 0}

    def step_loss(z: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        step["n"] += 1
        return jscc_loss(net, norm, z, cfg, gen, with_pixels=step["n"] % cfg.pixel_every == 0)

    fit("lrisc-taef2 jscc", "jscc", net, [{"params": list(net.parameters()), "lr_scale": 1.0}], step_loss,
        lambda: validator(net, cfg), LatentBatches(cache, cfg.batch, cfg.crop), ckpt_dir, cfg, minutes, ckpt_every,
        log_every, command)


def frozen_jscc(path: Path | None = None) -> LatentJSCC:
    """The exported TAEF2 JSCC (shared/weights/lrisc_taef2_jscc unless ``path``), frozen."""
    return load_latent_jscc_file(path or WEIGHTS_DIR / f"{WEIGHT_NAME}.safetensors").requires_grad_(False)


def diffusion_loss(model: ConditionalDenoiser, jscc: LatentJSCC, norm: Normaliser, z: torch.Tensor, cfg: TrainConfig,
                   gen: torch.Generator, sched, with_pixels: bool) -> tuple[torch.Tensor, dict]:
    z_n = norm.forward(z)  # (B, L, h, w)
    with torch.no_grad():
        z_hat, rx_snr = through_channel(jscc, z_n, cfg, gen)
    t = torch.randint(0, sched.config.num_train_timesteps, (z.shape[0],), generator=gen)  # (B,)
    x_t = sched.add_noise(z_n, torch.randn(z_n.shape, generator=gen), t)
    z0 = model(x_t, t, drop_conditions(latent_guidance(z_hat, rx_snr), cfg.p_drop, gen))  # (B, L, h, w)
    lat = F.mse_loss(z0, z_n)
    terms, loss = {"lat": lat.item()}, lat
    if with_pixels:
        decoder, n = frozen_codec().net.decoder, cfg.pixel_batch
        with torch.no_grad():
            target = decoder(z[:n]).clamp(0, 1)
        y = decoder(norm.inverse(z0[:n]))
        pix, perc = F.mse_loss(y, target), effnet_distance(y, target)
        loss = loss + cfg.pixel_weight * pix + cfg.perceptual_weight * perc
        terms.update(pix=pix.item(), perc=perc.item())
    return loss, terms


def matched_alpha(error_var: float) -> float:
    """The DDPM level a_t whose noise matches a remaining error of variance ``error_var`` (unit-variance latent):
    sqrt(a) z_hat = sqrt(a) z + sqrt(a) e needs 1 - a = a e, so a = 1 / (1 + e)."""
    return 1.0 / (1.0 + max(error_var, 1e-6))


def strength_for(alpha_bar: float, sched) -> float:
    """The sampler's strength (t / T) whose cumulative alpha is closest to ``alpha_bar``."""
    t = int(torch.argmin((sched.alphas_cumprod - alpha_bar).abs()))
    return (t + 1) / sched.config.num_train_timesteps


@torch.no_grad()
def remaining_error(jscc: LatentJSCC, z_n: torch.Tensor, cfg: TrainConfig) -> dict[str, float]:
    """var(z_hat - z_n) per (maps, SNR) on AWGN, keyed "k32_snr10": what the receiver has left to fix."""
    gen = torch.Generator().manual_seed(99)
    b, _, h, w = z_n.shape
    out = {}
    for k in VAL_MAPS:
        maps = torch.full((b, h // 2 // BLOCK, w // 2 // BLOCK), k)
        for s in STRENGTH_SNRS_DB:
            z_hat, _ = through_channel(jscc, z_n, cfg, gen, snr_db=torch.full((b, 1), s), maps=maps,
                                       fading=torch.zeros(b, dtype=torch.bool))
            out[f"k{k}_snr{s:g}"] = float((z_hat - z_n).pow(2).mean())
    return out


def train_diffusion(cache: LatentCache, ckpt_dir: Path, cfg: TrainConfig, minutes: float, ckpt_every: int,
                    log_every: int, command: str) -> None:
    torch.manual_seed(cfg.seed)
    norm, jscc = Normaliser(cache.mean, cache.std), frozen_jscc()
    model = ConditionalDenoiser(DIFFUSION_CONFIG)
    sched = make_scheduler(DIFFUSION_CONFIG)
    validator = Validator(norm)
    errors = remaining_error(jscc, validator.z_n, cfg)
    step = {"n": 0}

    @torch.no_grad()
    def validate() -> dict[str, float]:
        """JSCC only against one and two DDIM steps from the matched level, AWGN, CBR 1/48."""
        model.eval()
        decoder, gen = frozen_codec().net.decoder, torch.Generator().manual_seed(1234)
        scores: dict[str, float] = {}
        for s in (0.0, 10.0, 20.0):
            z_hat, rx_snr = validator.received(jscc, cfg, gen, s)
            strength = strength_for(matched_alpha(errors[f"k32_snr{s:g}"]), sched)
            for steps in (0, 1, 2):
                z0 = z_hat if steps == 0 else sample(model, latent_guidance(z_hat, rx_snr), tuple(z_hat.shape), steps=steps,
                                                     strength=strength, init=z_hat, generator=torch.Generator().manual_seed(0))
                scores[f"psnr_snr{s:g}_steps{steps}"], scores[f"effnet_snr{s:g}_steps{steps}"] = \
                    validator.picture_scores(decoder(norm.inverse(z0)).clamp(0, 1))
        model.train()
        return scores

    def step_loss(z: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        step["n"] += 1
        return diffusion_loss(model, jscc, norm, z, cfg, gen, sched, with_pixels=step["n"] % cfg.pixel_every == 0)

    fit("lrisc-taef2 diffusion", "diffusion", model, [{"params": list(model.parameters()), "lr_scale": 1.0}], step_loss,
        validate, LatentBatches(cache, cfg.batch, cfg.crop), ckpt_dir, cfg, minutes, ckpt_every, log_every, command)


def read_checkpoint(ckpt_dir: Path, model: torch.nn.Module, prefix: str = "") -> tuple[dict, dict[str, float]]:
    """Load ``model`` from the latest checkpoint (its entries under ``prefix``, where the checkpoint holds more than
    ``model``); -> (its state.json, its last validation)."""
    meta = json.loads((ckpt_dir / "state.json").read_text())
    state = load_file(ckpt_dir / "model.safetensors")
    model.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    return meta, next(h["val"] for h in reversed(meta["history"]) if "val" in h)


def cache_normaliser(meta: dict) -> tuple[dict, Normaliser]:
    """The latent cache's stats (as recorded in a checkpoint) and the normalisation they define."""
    stats = json.loads((Path(meta["cache"]) / "stats.json").read_text())
    return stats, Normaliser(torch.tensor(stats["mean"]), torch.tensor(stats["std"]))


def export_diffusion(ckpt_dir: Path, out_dir: Path, note: str, config: DenoiserConfig | None = None,
                     prefix: str = "", loss: str = "", terms: tuple[str, ...] = ("lat",)) -> Path:
    """``<out_dir>/lrisc_taef2_diffusion.safetensors`` with the matched-noise table, and its model card (``config``,
    ``prefix``, ``loss`` and ``terms``: the generator stage's residual UNet, stored beside its critic, and its loss)."""
    model = ConditionalDenoiser(config or DIFFUSION_CONFIG)  # the diffusion stage's, unless the generator stage's
    meta, val = read_checkpoint(ckpt_dir, model, prefix)
    cfg = TrainConfig(**meta["train"])
    _, norm = cache_normaliser(meta)
    errors = remaining_error(frozen_jscc(), Validator(norm).z_n, cfg)
    table = {key: matched_alpha(e) for key, e in errors.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{DIFFUSION_NAME}.safetensors"
    save_denoiser(model, path, {"train": json.dumps(meta["train"]), "step": str(meta["step"]), "codec": CODEC,
                                "alpha_table": json.dumps(table), "remaining_error": json.dumps(errors)})
    curve = curve_rows(meta, terms)
    loss = loss or (f"MSE(z0, z_n) + on every {cfg.pixel_every}th step {cfg.pixel_weight:g} x MSE(D(z0), D(z)) + "
                    f"{cfg.perceptual_weight:g} x effnet_dist(D(z0), D(z)); **perceptual loss: yes**; condition dropout {cfg.p_drop:g}")
    c = model.config
    (out_dir / f"{DIFFUSION_NAME}.md").write_text(f"""# Model card: `{DIFFUSION_NAME}`

LRISC's conditional diffusion generator in TAEF2's latent space (`shared/generators/diffusion.py`): a diffusers
`UNet2DModel` predicting the clean normalised latent, conditioned on the received latent z_hat (concatenated) and the
SNR, sampled with DDIM from z_hat noised to the level of its remaining error. {sum(p.numel() for p in model.parameters()):,}
parameters, {path.stat().st_size / 1e6:.2f} MB (fp16).

| | |
| --- | --- |
| architecture | UNet2DModel, levels {list(c.block_out_channels)}, attention {list(c.attention_levels)}; {c.train_timesteps} timesteps, {c.beta_schedule} |
| frozen | `{WEIGHT_NAME}` (the JSCC) and TAEF2 (madebyollin/taesd @ 5cccb12, MIT, SHA-256 pinned): its decoder is in the loss |
| data | latent cache `{meta['cache']}` ({meta.get('cache_latents', '?')} latents of `{meta.get('data', '?')}`); corpus licences: `../shared/corpus/README.md` (most research-only) |
| loss | {loss} |
| remaining error var(z_hat - z_n), AWGN | {', '.join(f'{k} {v:.3f}' for k, v in errors.items())} |
| steps done | {meta['step']} (batch {cfg.batch}), wall {meta['wall_s'] / 60:.1f} min on {meta.get('hardware', cpu_model())}, {meta.get('threads', 1)} thread(s) |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation: scikit-image photos at 256x256, AWGN, CBR 1/48 (steps 0 = the JSCC alone)
{', '.join(f'{k} {v:.3f}' for k, v in val.items())}

## Training curve
| step | wall s | {' | '.join(terms)} | validation |
| --- | --- | {' | '.join('---' for _ in terms)} | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else ""))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); validation {val}")
    return path


def train_entropy(cache: LatentCache, ckpt_dir: Path, cfg: TrainConfig, minutes: float, ckpt_every: int, log_every: int,
                  command: str) -> None:
    torch.manual_seed(cfg.seed)
    norm = Normaliser(cache.mean, cache.std)
    model = Hyperprior(EntropyConfig())
    held_out = torch.stack([norm.forward(z)[0] for z in Validator.latents()])  # (6, L, 32, 32) scikit-image photos

    @torch.no_grad()
    def validate() -> dict[str, float]:
        model.eval()
        z_bits, side_bits = model(held_out)
        model.train()
        per_image = (z_bits.sum((1, 2, 3)) + side_bits.sum((1, 2, 3))) / (256 * 256)  # bits per pixel at step q
        return {"bpp": float(per_image.mean()), "bpp_min": float(per_image.min()), "bpp_max": float(per_image.max())}

    fit("lrisc-taef2 entropy", "entropy", model, [{"params": list(model.parameters()), "lr_scale": 1.0}],
        lambda z, gen: entropy_loss(model, norm.forward(z)), validate, LatentBatches(cache, cfg.batch, cfg.crop), ckpt_dir,
        cfg, minutes, ckpt_every, log_every, command)


def export_entropy(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    """``<out_dir>/lrisc_taef2_entropy.safetensors`` and its model card."""
    model = Hyperprior(EntropyConfig())
    meta, val = read_checkpoint(ckpt_dir, model)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{ENTROPY_NAME}.safetensors"
    save_configured(model, path, {"train": json.dumps(meta["train"]), "step": str(meta["step"]), "codec": CODEC})
    c = model.config
    curve = curve_rows(meta, ("loss",))
    (out_dir / f"{ENTROPY_NAME}.md").write_text(f"""# Model card: `{ENTROPY_NAME}`

The entropy model behind `lrisc`'s content-adaptive lengths (codec `taef2`): a scale hyperprior
(`shared/nets/entropy.py`; h_a, h_s of width {c.hidden}, {c.side_channels} side channels at 1/4 of the latent grid,
a factorised Gaussian prior on them) over the normalised TAEF2 latent, measuring -log2 P(z | y) at step
q = {c.step} latent standard deviations. The scheme sums it per 64x64-pixel block and gives each block
JSCC maps in proportion. {sum(p.numel() for p in model.parameters()):,} parameters, {path.stat().st_size / 1e6:.2f} MB.

| | |
| --- | --- |
| data | latent cache `{meta.get('cache')}` ({meta.get('cache_latents', '?')} latents of `{meta.get('data', '?')}`; TAEF2, MIT, frozen); corpus licences: see `../shared/corpus/README.md` (most research-only) |
| loss | bits(z_n given y) + bits(y) per latent value, uniform noise for rounding (no distortion term: the JSCC sets the distortion) |
| steps done | {meta['step']} (batch {meta['train']['batch']}, {meta['train']['crop']}x{meta['train']['crop']} latent crops), Adam, peak lr {meta['train']['lr']:g} |
| wall time | {meta['wall_s'] / 60:.1f} min on {meta.get('hardware', cpu_model())}, {meta.get('threads', 1)} thread(s) |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation: scikit-image photos at 256x256 (never trained on)
bits per pixel at step q: {', '.join(f'{k} {v:.3f}' for k, v in val.items())}

## Training curve
| step | wall s | loss (bits per latent value) | validation |
| --- | --- | --- | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else ""))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); validation {val}")
    return path


def export(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    """``<out_dir>/lrisc_taef2_jscc.safetensors`` (weights, architecture, normalisation) and its model card."""
    net = LatentJSCC(JSCC_CONFIG)
    meta, val = read_checkpoint(ckpt_dir, net)
    cfg = TrainConfig(**meta["train"])
    stats, _ = cache_normaliser(meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{WEIGHT_NAME}.safetensors"
    save_configured(net, path, {"train": json.dumps(meta["train"]), "step": str(meta["step"]), "codec": CODEC,
                                "latent_mean": json.dumps(stats["mean"]), "latent_std": json.dumps(stats["std"])},
                    dtype=torch.float16)  # half the size in git; loading casts back to float32
    terms = ("loss", "lat", "pix", "perc")
    curve = curve_rows(meta, terms)
    c = net.config
    card = f"""# Model card: `{WEIGHT_NAME}`

LRISC's SNR-adaptive latent JSCC in the TAEF2 latent space (`shared/nets/latent_jscc.py`, `rate_input`):
the normalised 32-channel TAEF2 latent -> {c.maps} importance-ordered maps at 1/16 of the image side; per
{BLOCK}x{BLOCK}-cell block (64x64 pixels) any prefix of {list(c.rates)} maps is sendable (CBR 1/192 ... 1/24),
and the decoder sees the length map. {sum(p.numel() for p in net.parameters()):,} parameters, {path.stat().st_size / 1e6:.2f} MB.

| | |
| --- | --- |
| architecture | width {c.width}, one stride-2 stage, residual blocks, ADJSCC AF modules (hidden {c.af_hidden}) on both sides |
| frozen | TAEF2 (madebyollin/taesd @ 5cccb12, `taef2_encoder.pth` / `taef2_decoder.pth`, MIT; loaded from `SEMCOM_HUB_DIR`, SHA-256 pinned in the registry): the encoder made the latent cache, the decoder is in the loss |
| data | latent cache `{meta['cache']}` ({meta.get('cache_latents', '?')} latents): `{meta.get('data', '?')}`, images at short side {meta.get('short_side', SHORT_SIDE)}; random {cfg.crop}x{cfg.crop} latent crops ({cfg.crop * 8} px). Corpus licences: most folders research-only (BSDS500, ImageNet sample, UTKFace, CelebA-HQ/AFHQ), see `../shared/corpus/README.md`; the validation split (1 in 48 by path hash) is never read |
| channel | SNR U[0, 20] dB per sample; AWGN, Rayleigh fading + ZF for {cfg.fading_p:.0%} (one gain per frame or per block); LMMSE; transmitter SNR = true SNR half the time; a random length per block, or one length for the whole sample in {cfg.uniform_rate_p:.0%} |
| loss | MSE(z_hat, z_n) + on every {cfg.pixel_every}th step ({cfg.pixel_batch} samples) {cfg.pixel_weight:g} x MSE(D(z_hat), D(z)) + {cfg.perceptual_weight:g} x effnet_dist(D(z_hat), D(z)), D the frozen TAEF2 decoder; **perceptual loss: yes** (the `effnet_dist` that `semcom eval` reports: judge it by PSNR, MS-SSIM and agreement too) |
| optimiser | Adam (0.9, 0.99), peak lr {cfg.lr:g}, {cfg.warmup} warm-up steps, cosine to lr/50 over {cfg.steps} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {cfg.batch}) |
| wall time | {meta['wall_s'] / 60:.1f} min |
| hardware | {meta.get('hardware', cpu_model())}, CPU only, {meta.get('threads', 1)} thread(s), torch {torch.__version__} |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation: scikit-image photos at 256x256 (never trained on), AWGN, one length everywhere
codec_psnr is TAEF2 alone (no channel); psnr/effnet per CBR are means over {list(VAL_SNRS_DB)} dB:
{', '.join(f'{k} {v:.3f}' for k, v in val.items())}

## Training curve
| step | wall s | {' | '.join(terms)} | validation |
| --- | --- | {' | '.join('---' for _ in terms)} | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else "")
    (out_dir / f"{WEIGHT_NAME}.md").write_text(card)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); validation {val}")
    return path


def receiver_stage(function: str):
    """A trainer or exporter of :mod:`shared.training.receiver_decoder` (the decoder and joint stages), imported when
    run: that module builds on this one."""
    def run(*args):
        from shared.training import receiver_decoder

        return getattr(receiver_decoder, function)(*args)

    return run


def generator_stage(function: str):
    """A trainer or exporter of :mod:`shared.training.receiver_generator` (the adversarial one-step generator)."""
    def run(*args):
        from shared.training import receiver_generator

        return getattr(receiver_generator, function)(*args)

    return run


STAGES = {"jscc": (WEIGHT_NAME, train, export), "entropy": (ENTROPY_NAME, train_entropy, export_entropy),
          "diffusion": (DIFFUSION_NAME, train_diffusion, export_diffusion),
          "generator": (DIFFUSION_NAME, generator_stage("train"), generator_stage("export")),
          "decoder": (TAEF2_TUNED, receiver_stage("train"), receiver_stage("export")),
          "joint": ("lrisc_taef2_joint", receiver_stage("train_joint"), receiver_stage("export_joint"))}  # stage -> (weights name, trainer, exporter)


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog=PROG, description="Train / export LRISC's latent JSCC in the TAEF2 latent space, from the "
                  "latent cache (build it first: semcom train cache --codec taef2 --data corpus:PATH).")
    p.add_argument("--stage", choices=tuple(STAGES), default="jscc",
                   help="which part to train or export (default: %(default)s): entropy (the hyperprior), jscc, diffusion (after "
                   "jscc), generator (the diffusion generator trained for the receiver's one step with an adversarial critic, "
                   "after jscc; its export replaces diffusion's), decoder (TAEF2's decoder tuned at the receiver, after jscc), joint (jscc and that decoder end to "
                   "end, after decoder; its export replaces both)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="latent cache root (default: %(default)s)")
    p.add_argument("--short-side", type=int, default=SHORT_SIDE, help="which cache scale to train on (default: %(default)s)")
    p.add_argument("--ckpt-dir", type=Path, default=None, help="checkpoint folder (resumes); default out/<weights name>")
    p.add_argument("--steps", type=int, default=None,
                   help=f"total steps, the cosine schedule's length (default: {TrainConfig.steps}; 3000 for the decoder stage)")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default: 1e-3; 2e-4 for the diffusion stage, 1e-4 for the decoder stage)")
    p.add_argument("--batch", type=int, default=None,
                   help=f"latent crops per step (default: {TrainConfig.batch}; 4 for the decoder stage)")
    p.add_argument("--adversarial-weight", type=float, default=TrainConfig.adversarial_weight,
                   help="generator stage: weight of the critic's term (default: %(default)s; 0 = the one step trained by MSE alone)")
    add_run_args(p, minutes=60.0, ckpt_every=500)
    args = p.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        name, trainer, exporter = STAGES[args.stage]
        ckpt_dir = args.ckpt_dir or Path("out") / name
        if args.export:
            if not (ckpt_dir / "state.json").exists():
                raise UsageError(f"no checkpoint in {ckpt_dir}; train first")
            exporter(ckpt_dir, args.out_dir, args.note)
            return 0
        if args.stage in ("diffusion", "generator", "decoder", "joint") and not (WEIGHTS_DIR / f"{WEIGHT_NAME}.safetensors").is_file():
            raise UsageError(f"the {args.stage} stage needs the exported JSCC: {PROG} --stage jscc, then --export")
        if args.stage == "joint" and not tuned_decoder_file().is_file():
            raise UsageError(f"the joint stage starts from the tuned decoder: {PROG} --stage decoder, then --export")
        cache = LatentCache(cache_dir(args.cache_dir, CODEC, args.short_side))
        if args.stage in ("decoder", "joint"):
            from shared.training.receiver_decoder import stage_config

            cfg = stage_config(TrainConfig(), args.steps, args.lr, args.batch)
        else:
            lr = args.lr if args.lr is not None else (2e-4 if args.stage in ("diffusion", "generator") else 1e-3)  # as the embedded generator
            cfg = replace(TrainConfig(), steps=args.steps or TrainConfig.steps, lr=lr, batch=args.batch or TrainConfig.batch,
                          adversarial_weight=args.adversarial_weight)
        command = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
        trainer(cache, ckpt_dir, cfg, args.minutes, args.ckpt_every, args.log_every, command)
        return 0

    return run_cli(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())

