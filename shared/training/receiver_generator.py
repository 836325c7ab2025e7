"""Train LRISC's TAEF2 diffusion generator for the one step the receiver runs, with an adversarial term (ADD-style).

    semcom train lrisc-taef2 --stage generator --minutes 40 --threads 2     # then --export

The diffusion stage trains the denoiser with MSE alone; one step from z_hat at its matched noise level then
predicts the mean of every latent that could have been sent, a blur like the JSCC's own estimate. This stage
trains the step the receiver actually takes, end to end through the tuned decoder, judged by a critic that
knows what real pictures look like (a critic on the latents instead was tried first: worse, see the README):

    z_hat, snr  = the frozen JSCC over a random channel (as every TAEF2 stage)
    t*          = the one DDIM timestep the receiver samples at for z_hat's own remaining error
                  (a = 1 / (1 + var(z_hat - z_n)), :func:`shared.generators.diffusion.sampling_timesteps`)
    g           = UNet(sqrt(a) z_hat + sqrt(1 - a) eps, t* | z_hat, snr)        the receiver's one step
    y           = the tuned decoder's picture of g (what the receiver shows), on every step
    loss = 0.1 * (MSE(UNet(x_t, t), z_n) at a random t  (the denoising objective: more steps stay meaningful)
                  + MSE(g, z_n))                        (fidelity in the latent)
         + pixel_weight * MSE(y, D(z)) + 0.5 * effnet_dist(y, D(z))      (D(z): TAEF2's picture of the clean latent)
         + adversarial_weight * -C(y)                   (hinge; ``--adversarial-weight``, 0 = no critic's term)
    C: a PatchGAN critic on the pictures (real: D(z); fake: y), hinge loss, spectral norm, its own Adam.

The UNet is residual on z_hat (its output layer starts at zero), so training starts at the JSCC-only receiver
and learns what z_hat lacks. The export is the diffusion stage's: the same weights name
(``lrisc_taef2_diffusion``) with its matched-noise table, so ``lrisc`` samples it with ``steps=1`` unchanged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from shared.generators.diffusion import (
    ConditionalDenoiser,
    drop_conditions,
    latent_guidance,
    make_scheduler,
    sampling_timesteps,
)
from shared.schemes.lrisc_nets import tuned_taef2_decoder
from shared.training.latent_cache import LatentBatches, LatentCache
from shared.training.loop import fit
from shared.training.lrisc import effnet_distance
from shared.training.lrisc_taef2 import (
    DIFFUSION_CONFIG,
    TrainConfig,
    Validator,
    export_diffusion,
    frozen_codec,
    frozen_jscc,
    matched_alpha,
    strength_for,
    through_channel,
)
from shared.training.receiver_decoder import jscc_normaliser

GENERATOR_CONFIG = replace(DIFFUSION_CONFIG, residual="z_hat")  # starts at z_hat exactly: the JSCC-only receiver
LATENT_WEIGHT = 0.1  # the denoising and one-step latent MSEs (~0.5 each): present, under the picture's terms (as the joint stage)
PERCEPTUAL_WEIGHT = 0.5  # effnet_dist (~0.3) of the receiver's picture: the term the critic sharpens against


@dataclass(frozen=True)
class AdversarialConfig:
    """The critic's settings (the generator's, and the adversarial weight, are the stage's TrainConfig)."""

    critic_lr: float = 2e-4  # the critic's Adam, betas (0.5, 0.99) as is usual for GAN critics
    critic_width: int = 64  # channels of the critic's first convolution (64-128-256): ~0.7 M parameters


class PixelCritic(nn.Module):
    """(B, 3, H, W) pictures in [0, 1] -> (B, 1, H/8, W/8) realness logits, one per 8x8-pixel patch (PatchGAN)."""

    def __init__(self, width: int):
        super().__init__()
        sn = spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * width, 1, 3, padding=1)))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(2 * y - 1)


class GeneratorAndCritic(nn.Module):
    """One checkpoint for both (the loop's optimiser trains the generator; the critic has its own)."""

    def __init__(self, generator: ConditionalDenoiser, critic: PixelCritic):
        super().__init__()
        self.generator, self.critic = generator, critic


def one_step_timesteps(z_hat: torch.Tensor, z_n: torch.Tensor, sched) -> torch.Tensor:
    """(B,) the timestep the receiver's one DDIM step starts at for each sample's own remaining error."""
    errors = (z_hat - z_n).pow(2).mean((1, 2, 3))  # (B,)
    ts = [sampling_timesteps(sched, 1, strength_for(matched_alpha(float(e)), sched))[0] for e in errors]
    return torch.stack(ts).long()


def generator_loss(pair: GeneratorAndCritic, critic_opt: torch.optim.Optimizer, jscc, decoder: nn.Module, norm,
                   z: torch.Tensor, cfg: TrainConfig, gen: torch.Generator, sched) -> tuple[torch.Tensor, dict]:
    """One critic update, then the generator's loss (the loop backpropagates it)."""
    model, critic = pair.generator, pair.critic
    z_n = norm.forward(z)  # (B, L, h, w)
    with torch.no_grad():
        z_hat, rx_snr = through_channel(jscc, z_n, cfg, gen)
        target = frozen_codec().net.decoder(z).clamp(0, 1)  # (B, 3, 8h, 8w) TAEF2's picture of the clean latent
    cond = latent_guidance(z_hat, rx_snr)
    t = torch.randint(0, sched.config.num_train_timesteps, (z.shape[0],), generator=gen)  # (B,)
    x_t = sched.add_noise(z_n, torch.randn(z_n.shape, generator=gen), t)
    dsm = F.mse_loss(model(x_t, t, drop_conditions(cond, cfg.p_drop, gen)), z_n)
    t_star = one_step_timesteps(z_hat, z_n, sched)  # (B,)
    g = model(sched.add_noise(z_hat, torch.randn(z_n.shape, generator=gen), t_star), t_star, cond)  # (B, L, h, w)
    y = decoder(norm.inverse(g))  # (B, 3, 8h, 8w) the receiver's picture

    critic.requires_grad_(True)
    critic_opt.zero_grad(set_to_none=True)
    d_loss = F.relu(1 - critic(target)).mean() + F.relu(1 + critic(y.detach().clamp(0, 1))).mean()
    d_loss.backward()
    critic_opt.step()
    critic_opt.zero_grad(set_to_none=True)  # so the loop's gradient clipping sees the generator's gradients only
    critic.requires_grad_(False)  # the generator's loss reaches the critic's input, not its weights

    rec = F.mse_loss(g, z_n)
    pix, perc = F.mse_loss(y, target), effnet_distance(y, target)
    g_adv = -critic(y.clamp(0, 1)).mean()
    loss = LATENT_WEIGHT * (dsm + rec) + cfg.pixel_weight * pix + PERCEPTUAL_WEIGHT * perc + cfg.adversarial_weight * g_adv
    return loss, {"dsm": dsm.item(), "rec": rec.item(), "pix": pix.item(), "perc": perc.item(), "g_adv": g_adv.item(),
                  "d": d_loss.item()}


def train(cache: LatentCache, ckpt_dir: Path, cfg: TrainConfig, minutes: float, ckpt_every: int, log_every: int,
          command: str, adv: AdversarialConfig = AdversarialConfig()) -> None:
    torch.manual_seed(cfg.seed)
    norm, jscc = jscc_normaliser(), frozen_jscc()
    decoder = tuned_taef2_decoder(frozen_codec().net.decoder).requires_grad_(False).eval()  # what the receiver decodes with
    pair = GeneratorAndCritic(ConditionalDenoiser(GENERATOR_CONFIG), PixelCritic(adv.critic_width))
    critic_opt = torch.optim.Adam(pair.critic.parameters(), lr=adv.critic_lr, betas=(0.5, 0.99))
    sched = make_scheduler(GENERATOR_CONFIG)
    validator = Validator(norm)

    @torch.no_grad()
    def validate() -> dict[str, float]:
        """JSCC only (steps 0) against the receiver's one step, AWGN, CBR 1/48, both decoders."""
        model = pair.generator.eval()
        gen = torch.Generator().manual_seed(1234)
        scores: dict[str, float] = {}
        for s in (0.0, 10.0, 20.0):
            z_hat, rx_snr = validator.received(jscc, cfg, gen, s)
            t_star = one_step_timesteps(z_hat, validator.z_n, sched)
            noise = torch.randn(z_hat.shape, generator=torch.Generator().manual_seed(0))
            g = model(sched.add_noise(z_hat, noise, t_star), t_star, latent_guidance(z_hat, rx_snr))
            for steps, z0 in ((0, z_hat), (1, g)):
                for name, dec in (("tuned", decoder), ("plain", frozen_codec().net.decoder)):
                    key = f"snr{s:g}_steps{steps}_{name}"
                    scores[f"psnr_{key}"], scores[f"effnet_{key}"] = validator.picture_scores(dec(norm.inverse(z0)).clamp(0, 1))
        pair.generator.train()
        return scores

    def step_loss(z: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        return generator_loss(pair, critic_opt, jscc, decoder, norm, z, cfg, gen, sched)

    fit("lrisc-taef2 generator", "generator", pair, [{"params": list(pair.generator.parameters()), "lr_scale": 1.0}],
        step_loss, validate, LatentBatches(cache, cfg.batch, cfg.crop), ckpt_dir, cfg, minutes, ckpt_every, log_every,
        command)


def export(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    """The generator half of the checkpoint, exported as the diffusion stage exports (matched-noise table, card)."""
    cfg = TrainConfig(**json.loads((ckpt_dir / "state.json").read_text())["train"])
    loss = (f"{LATENT_WEIGHT:g} x (MSE(UNet(x_t, t), z_n) at a random t + MSE(g, z_n)) + {cfg.pixel_weight:g} x MSE(y, D(z)) + "
            f"{PERCEPTUAL_WEIGHT:g} x effnet_dist(y, D(z)) + {cfg.adversarial_weight:g} x hinge(-C(y)), g the one step from z_hat "
            "at its matched level, y the tuned decoder's picture of g, C a PatchGAN critic (real: D(z)); **perceptual and "
            "adversarial loss: yes**, so judge it also by PSNR, MS-SSIM and agreement")
    return export_diffusion(ckpt_dir, out_dir, note, config=GENERATOR_CONFIG, prefix="generator.", loss=loss,
                            terms=("rec", "pix", "perc", "g_adv", "d"))
