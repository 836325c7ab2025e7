"""Train LRISC's TAEF2 diffusion generator for the one step the receiver runs, with an adversarial term (ADD-style).

    semcom train lrisc-taef2 --stage generator --minutes 40 --threads 2     # then --export

The diffusion stage trains the denoiser with MSE alone; one step from z_hat at its matched noise level then
predicts the mean of every latent that could have been sent, a blur like the JSCC's own estimate. This stage
trains the step the receiver actually takes, judged by a critic that knows what real latents look like:

    z_hat, snr  = the frozen JSCC over a random channel (as every TAEF2 stage)
    t*          = the one DDIM timestep the receiver samples at for z_hat's own remaining error
                  (a = 1 / (1 + var(z_hat - z_n)), :func:`shared.generators.diffusion.sampling_timesteps`)
    g           = UNet(sqrt(a) z_hat + sqrt(1 - a) eps, t* | z_hat, snr)        the receiver's one step
    loss = MSE(UNet(x_t, t), z_n) at a random t       (the denoising objective: more steps stay meaningful)
         + MSE(g, z_n)                                (fidelity)
         + adversarial_weight * -D(g, z_hat)          (hinge; D a conditional patch critic on the latent grid;
                                                        ``--adversarial-weight``, 0 = the one step trained by MSE alone)
         + on every pixel_every-th step pixel MSE + effnet_dist of the tuned decoder's picture of g
    D: hinge loss on (z_n, z_hat) against (g, z_hat), spectral norm, its own Adam.

The UNet is residual on z_hat (its output layer starts at zero), so training starts at the JSCC-only receiver
and learns what z_hat lacks. The export is the diffusion stage's: the same weights name
(``lrisc_taef2_diffusion``) with its matched-noise table, so ``lrisc`` samples it with ``steps=1`` unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
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
from shared.training.latent import psnr
from shared.training.latent_cache import LatentBatches, LatentCache
from shared.training.loop import fit
from shared.training.lrisc import effnet_distance
from shared.training.lrisc_taef2 import (
    BLOCK,
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


@dataclass(frozen=True)
class AdversarialConfig:
    """The critic's settings (the generator's, and the adversarial weight, are the stage's TrainConfig)."""

    critic_lr: float = 2e-4  # the critic's Adam, betas (0.5, 0.99) as is usual for GAN critics
    critic_width: int = 128  # channels of the critic's convolutions: ~0.9 M parameters


class LatentCritic(nn.Module):
    """(latent (B, L, h, w), received latent (B, L, h, w)) -> (B, 1, h/2, w/2) realness logits, one per 2x2 cells."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        sn = spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(2 * channels, width, 3, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 2 * width, 3, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 1, 3, padding=1)))

    def forward(self, z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, z_hat], dim=1))


class GeneratorAndCritic(nn.Module):
    """One checkpoint for both (the loop's optimiser trains the generator; the critic has its own)."""

    def __init__(self, generator: ConditionalDenoiser, critic: LatentCritic):
        super().__init__()
        self.generator, self.critic = generator, critic


def one_step_timesteps(z_hat: torch.Tensor, z_n: torch.Tensor, sched) -> torch.Tensor:
    """(B,) the timestep the receiver's one DDIM step starts at for each sample's own remaining error."""
    errors = (z_hat - z_n).pow(2).mean((1, 2, 3))  # (B,)
    ts = [sampling_timesteps(sched, 1, strength_for(matched_alpha(float(e)), sched))[0] for e in errors]
    return torch.stack(ts).long()


def generator_loss(pair: GeneratorAndCritic, critic_opt: torch.optim.Optimizer, jscc, decoder: nn.Module, norm,
                   z: torch.Tensor, cfg: TrainConfig, gen: torch.Generator, sched,
                   with_pixels: bool) -> tuple[torch.Tensor, dict]:
    """One critic update, then the generator's loss (the loop backpropagates it)."""
    model, critic = pair.generator, pair.critic
    z_n = norm.forward(z)  # (B, L, h, w)
    with torch.no_grad():
        z_hat, rx_snr = through_channel(jscc, z_n, cfg, gen)
    cond = latent_guidance(z_hat, rx_snr)
    t = torch.randint(0, sched.config.num_train_timesteps, (z.shape[0],), generator=gen)  # (B,)
    x_t = sched.add_noise(z_n, torch.randn(z_n.shape, generator=gen), t)
    dsm = F.mse_loss(model(x_t, t, drop_conditions(cond, cfg.p_drop, gen)), z_n)
    t_star = one_step_timesteps(z_hat, z_n, sched)  # (B,)
    g = model(sched.add_noise(z_hat, torch.randn(z_n.shape, generator=gen), t_star), t_star, cond)  # (B, L, h, w)

    critic.requires_grad_(True)
    critic_opt.zero_grad(set_to_none=True)
    d_real, d_fake = critic(z_n, z_hat), critic(g.detach(), z_hat)
    d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    d_loss.backward()
    critic_opt.step()
    critic_opt.zero_grad(set_to_none=True)  # so the loop's gradient clipping sees the generator's gradients only
    critic.requires_grad_(False)  # the generator's loss reaches the critic's input, not its weights

    rec = F.mse_loss(g, z_n)
    g_adv = -critic(g, z_hat).mean()
    loss = dsm + rec + cfg.adversarial_weight * g_adv
    terms = {"dsm": dsm.item(), "rec": rec.item(), "g_adv": g_adv.item(), "d": d_loss.item()}
    if with_pixels:
        n = cfg.pixel_batch
        with torch.no_grad():
            target = frozen_codec().net.decoder(z[:n]).clamp(0, 1)  # TAEF2's picture of the clean latent
        y = decoder(norm.inverse(g[:n]))
        pix, perc = F.mse_loss(y, target), effnet_distance(y, target)
        loss = loss + cfg.pixel_weight * pix + cfg.perceptual_weight * perc
        terms.update(pix=pix.item(), perc=perc.item())
    return loss, terms


def train(cache: LatentCache, ckpt_dir: Path, cfg: TrainConfig, minutes: float, ckpt_every: int, log_every: int,
          command: str, adv: AdversarialConfig = AdversarialConfig()) -> None:
    torch.manual_seed(cfg.seed)
    norm, jscc = jscc_normaliser(), frozen_jscc()
    decoder = tuned_taef2_decoder(frozen_codec().net.decoder).requires_grad_(False).eval()  # what the receiver decodes with
    pair = GeneratorAndCritic(ConditionalDenoiser(GENERATOR_CONFIG), LatentCritic(GENERATOR_CONFIG.latent_channels,
                                                                                   adv.critic_width))
    critic_opt = torch.optim.Adam(pair.critic.parameters(), lr=adv.critic_lr, betas=(0.5, 0.99))
    sched = make_scheduler(GENERATOR_CONFIG)
    validator = Validator(norm)

    @torch.no_grad()
    def validate() -> dict[str, float]:
        """JSCC only (steps 0) against the receiver's one step, AWGN, CBR 1/48, both decoders."""
        model = pair.generator.eval()
        gen = torch.Generator().manual_seed(1234)
        b, _, h, w = validator.z_n.shape
        ref = torch.from_numpy(validator.ref).permute(0, 3, 1, 2).float() / 255
        scores: dict[str, float] = {}
        for s in (0.0, 10.0, 20.0):
            z_hat, rx_snr = through_channel(jscc, validator.z_n, cfg, gen, snr_db=torch.full((b, 1), s),
                                            maps=torch.full((b, h // 2 // BLOCK, w // 2 // BLOCK), 32),
                                            fading=torch.zeros(b, dtype=torch.bool))
            t_star = one_step_timesteps(z_hat, validator.z_n, sched)
            noise = torch.randn(z_hat.shape, generator=torch.Generator().manual_seed(0))
            g = model(sched.add_noise(z_hat, noise, t_star), t_star, latent_guidance(z_hat, rx_snr))
            for steps, z0 in ((0, z_hat), (1, g)):
                for name, dec in (("tuned", decoder), ("plain", frozen_codec().net.decoder)):
                    y = dec(norm.inverse(z0)).clamp(0, 1)
                    key = f"snr{s:g}_steps{steps}_{name}"
                    scores[f"psnr_{key}"] = float(np.mean([psnr(a, c) for a, c in zip(validator.ref, validator.frames(y))]))
                    scores[f"effnet_{key}"] = float(effnet_distance(y, ref))
        pair.generator.train()
        return scores

    step = {"n": 0}

    def step_loss(z: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        step["n"] += 1
        return generator_loss(pair, critic_opt, jscc, decoder, norm, z, cfg, gen, sched,
                              with_pixels=step["n"] % cfg.pixel_every == 0)

    fit("lrisc-taef2 generator", "generator", pair, [{"params": list(pair.generator.parameters()), "lr_scale": 1.0}],
        step_loss, validate, LatentBatches(cache, cfg.batch, cfg.crop), ckpt_dir, cfg, minutes, ckpt_every, log_every,
        command)


def export(ckpt_dir: Path, out_dir: Path, note: str) -> Path:
    """The generator half of the checkpoint, exported as the diffusion stage exports (matched-noise table, card)."""
    return export_diffusion(ckpt_dir, out_dir, note, config=GENERATOR_CONFIG, prefix="generator.")
