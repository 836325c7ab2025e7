"""The receiver's conditional diffusion generator: a diffusers UNet and scheduler, loop written out.

It denoises a latent of the latent codec (normalised, ``z_n``), guided by
*conditions*:

* **spatial** conditions, maps on the latent grid concatenated to the noisy
  latent at the UNet's input: the received latent ``z_hat`` (LRISC) now; a
  segmentation map, a low-res image, a key mask and key latents later (their
  names and channel counts are part of :class:`DenoiserConfig`, so adding
  one is a config entry, not a new network);
* **vector** conditions, embedded and added to the UNet's timestep embedding
  (diffusers' ``class_embed_type="identity"``): the SNR now (sinusoidal
  features), a caption embedding later.

Every condition has a *present* flag that the network sees; training drops
conditions at random (zeros, flag 0), which is what classifier-free guidance
needs: ``out = out_uncond + scale * (out_cond - out_uncond)``.

The UNet predicts the clean latent (``prediction_type="sample"``), so any
step count from 1 (a conditional one-shot estimate) to many is meaningful;
DDIM runs the loop. ``strength < 1`` starts from ``z_hat`` noised to that
level instead of pure noise (LRISC's latent-guided initialisation).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from shared.nets.jscc import SNR_RANGE_DB
from shared.nets.weights_file import WEIGHTS_DIR, read_configured, save_configured

SNR_FEATURES = 16  # sinusoidal SNR features: smooth in dB, enough to separate 0..20 dB finely


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture of :class:`ConditionalDenoiser`."""

    latent_channels: int = 8  # the latent codec's channels
    spatial: tuple[tuple[str, int], ...] = (("z_hat", 8),)  # (name, channels) on the latent grid, concatenated at the input
    vector: tuple[tuple[str, int], ...] = (("snr", SNR_FEATURES),)  # (name, dims), embedded into the timestep embedding
    block_out_channels: tuple[int, ...] = (64, 128, 128)  # 3 levels: 32 -> 16 -> 8 for a 256x256 frame; ~4 M params
    attention_levels: tuple[bool, ...] = (False, False, True)  # self-attention at the coarsest level only: cheap on a CPU
    layers_per_block: int = 1  # one ResNet block per level: depth costs CPU time in every sampling step
    train_timesteps: int = 1000  # the DDPM/DDIM training schedule length
    beta_schedule: str = "squaredcos_cap_v2"  # cosine: keeps signal at small t, good for few-step sampling
    # a spatial condition of latent_channels whose value the prediction is added to where it is present: the network
    # then learns what that condition lacks (the semantic generator's low-res layout), and starts at it ("" = none)
    residual: str = ""

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "DenoiserConfig":
        tuples = {"spatial": lambda v: tuple((str(n), int(c)) for n, c in v),
                  "vector": lambda v: tuple((str(n), int(c)) for n, c in v),
                  "block_out_channels": lambda v: tuple(int(c) for c in v),
                  "attention_levels": lambda v: tuple(bool(a) for a in v)}
        return cls(**{k: tuples[k](v) if k in tuples else v for k, v in d.items()})


@dataclass
class Conditions:
    """What guides one batch: tensors by name, each optional (missing = dropped)."""

    spatial: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (B, c, h, w)
    vector: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (B, d)


def snr_features(snr_db: torch.Tensor) -> torch.Tensor:
    """(B, 1) SNR in dB -> (B, SNR_FEATURES) sinusoidal features of the clipped, [0, 1]-scaled SNR."""
    s = (snr_db.clamp(*SNR_RANGE_DB) - SNR_RANGE_DB[0]) / (SNR_RANGE_DB[1] - SNR_RANGE_DB[0])  # (B, 1)
    freqs = math.pi * torch.arange(1, SNR_FEATURES // 2 + 1, dtype=s.dtype, device=s.device)  # (F/2,)
    return torch.cat([torch.sin(s * freqs), torch.cos(s * freqs)], dim=1)  # (B, F)


class ConditionalDenoiser(nn.Module):
    """(noisy latent, t, conditions) -> predicted clean latent, all (B, L, h, w)."""

    def __init__(self, config: DenoiserConfig = DenoiserConfig()):
        super().__init__()
        from diffusers import UNet2DModel

        self.config = config
        ch = config.block_out_channels
        emb_dim = ch[0] * 4  # diffusers' time embedding width
        n_spatial = sum(c for _, c in config.spatial)
        self.unet = UNet2DModel(
            in_channels=config.latent_channels + n_spatial + len(config.spatial),  # + one presence map each
            out_channels=config.latent_channels,
            block_out_channels=ch,
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention_levels),
            up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention_levels)),
            layers_per_block=config.layers_per_block,
            attention_head_dim=32,
            norm_num_groups=32,
            class_embed_type="identity" if config.vector else None,
        )
        n_vector = sum(d for _, d in config.vector) + len(config.vector)  # + one presence flag each
        self.vector_embed = nn.Sequential(nn.Linear(n_vector, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)) \
            if config.vector else None
        if config.residual:
            self.reset_output()

    def reset_output(self) -> None:
        """Zero the UNet's last convolution: with a residual condition the prediction is then that condition exactly."""
        nn.init.zeros_(self.unet.conv_out.weight)
        nn.init.zeros_(self.unet.conv_out.bias)

    def _inputs(self, x_t: torch.Tensor, cond: Conditions) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Concatenated UNet input (B, L + spatial + flags, h, w) and the vector embedding (B, emb), or None without vector conditions."""
        b, _, h, w = x_t.shape
        maps, vecs = [x_t], []
        for name, c in self.config.spatial:
            m = cond.spatial.get(name)
            present = m is not None
            maps += [m.to(x_t.dtype) if present else x_t.new_zeros(b, c, h, w), x_t.new_full((b, 1, h, w), float(present))]
        for name, d in self.config.vector:
            v = cond.vector.get(name)
            present = v is not None
            vecs += [v.to(x_t.dtype) if present else x_t.new_zeros(b, d), x_t.new_full((b, 1), float(present))]
        return torch.cat(maps, dim=1), self.vector_embed(torch.cat(vecs, dim=1)) if vecs else None

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """x_t (B, L, h, w), t (B,) integer timesteps -> predicted clean latent (B, L, h, w)."""
        inp, emb = self._inputs(x_t, cond)
        out = self.unet(inp, t, class_labels=None if emb is None else emb.to(inp.dtype)).sample
        base = cond.spatial.get(self.config.residual) if self.config.residual else None
        return out if base is None else out + base.to(out.dtype)


def latent_guidance(z_hat: torch.Tensor, snr_db: torch.Tensor) -> Conditions:
    """LRISC's conditions: the received latent z_hat (B, L, h, w) and the receiver's SNR (B, 1) dB."""
    return Conditions(spatial={"z_hat": z_hat}, vector={"snr": snr_features(snr_db)})


def drop_conditions(cond: Conditions, p: float, gen: torch.Generator) -> Conditions:
    """Training-time condition dropout: each condition is dropped for the whole batch with
    probability p, exactly what the sampler's unconditional pass sends (absent, flag 0)."""
    keep = lambda: float(torch.rand(1, generator=gen)) >= p  # noqa: E731
    return Conditions(spatial={k: v for k, v in cond.spatial.items() if keep()},
                      vector={k: v for k, v in cond.vector.items() if keep()})


def make_scheduler(config: DenoiserConfig):
    """The DDIM scheduler matching the training schedule (x0 prediction, no clipping: latents are unbounded)."""
    from diffusers import DDIMScheduler

    # "trailing" spacing: n steps start at t = T - 1 (pure noise really is pure noise) and end at T/n - 1.
    # diffusers' default "leading" puts one step at t = 0 and four at 750..0, so a few-step sampler told
    # the model the wrong noise level (Lin et al. 2024, "Common diffusion noise schedules are flawed").
    return DDIMScheduler(num_train_timesteps=config.train_timesteps, beta_schedule=config.beta_schedule,
                         prediction_type="sample", clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing")


def sampling_timesteps(sched, steps: int, strength: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """The DDIM timesteps :func:`sample` runs for ``steps`` at ``strength`` (also sets them on ``sched``): with
    strength s < 1 the last ``steps`` of a schedule spaced so that they cover the last s of the training steps."""
    strength = min(max(strength, 1e-3), 1.0)
    train_t = sched.config.num_train_timesteps
    steps = max(1, min(steps, math.floor(strength * train_t)))  # no more steps than timesteps below the start level
    sched.set_timesteps(min(train_t, max(1, math.ceil(steps / strength))), device=device)
    return sched.timesteps[-steps:] if strength < 1 else sched.timesteps


@torch.no_grad()
def sample(model: ConditionalDenoiser, cond: Conditions, shape: tuple[int, ...], steps: int = 4,
           guidance: float = 1.0, strength: float = 1.0, init: torch.Tensor | None = None, eta: float = 0.0,
           generator: torch.Generator | None = None,
           keep: tuple[torch.Tensor, torch.Tensor] | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """DDIM sampling, written out. Returns the clean latent (B, L, h, w), normalised.

    Args:
        steps: denoising steps actually run (1-10 is the useful range).
        guidance: classifier-free guidance scale; 1 = conditional only (one UNet call a step).
        strength: 1 = start from pure noise; s < 1 = start from ``init`` noised to level s
            (``steps`` are then spread over the last s of the schedule).
        init: (B, L, h, w) starting latent for strength < 1 (LRISC: ``z_hat``).
        eta: DDIM stochasticity (0 = deterministic given the initial noise).
        keep: (known (B, L, h, w), mask (B, 1, h, w) in [0, 1]): hold the latent to ``known`` where
            the mask is 1 (inpainting-style: key regions stay faithful to their received latents).
            The predicted clean latent is replaced there at every step, and the sampler returns the
            last step's clean estimate, so the region is exact.
        noise: (B, L, h, w) the starting noise, instead of drawing it from ``generator`` (a batch whose
            frames must each get the noise they would get alone).
    """
    f = 2 ** (len(model.config.block_out_channels) - 1)  # the UNet halves the grid this many times over
    ph, pw = -shape[-2] % f, -shape[-1] % f
    if ph or pw:  # odd frame sizes: sample on a replicate-padded grid, return the original crop
        pad = lambda t: F.pad(t, (0, pw, 0, ph), mode="replicate")  # noqa: E731
        padded = Conditions({k: pad(v) for k, v in cond.spatial.items()}, cond.vector)
        out = sample(model, padded, (*shape[:-2], shape[-2] + ph, shape[-1] + pw), steps, guidance, strength,
                     None if init is None else pad(init), eta, generator,
                     None if keep is None else (pad(keep[0]), pad(keep[1])),
                     None if noise is None else pad(noise))  # (B, L, h + ph, w + pw)
        return out[..., : shape[-2], : shape[-1]]
    p = next(model.parameters())
    sched = make_scheduler(model.config)
    timesteps = sampling_timesteps(sched, steps, strength, p.device)  # (steps,)
    noise = (torch.randn(shape, generator=generator, device="cpu") if noise is None else noise).to(p.device, p.dtype)
    if strength < 1 and init is not None:
        x = sched.add_noise(init.to(p.dtype), noise, timesteps[:1])  # (B, L, h, w)
    else:
        x = noise * sched.init_noise_sigma
    uncond = Conditions()
    for i, t in enumerate(timesteps):
        tt = t.expand(shape[0])  # (B,)
        x0 = model(x, tt, cond)  # (B, L, h, w)
        if guidance != 1.0:
            x0_u = model(x, tt, uncond)
            x0 = x0_u + guidance * (x0 - x0_u)
        if keep is not None:
            known, mask = keep  # (B, L, h, w), (B, 1, h, w)
            x0 = mask.to(x0.dtype) * known.to(x0.dtype) + (1 - mask.to(x0.dtype)) * x0
        if i == len(timesteps) - 1:
            return x0  # the last step's clean estimate (stepping on would leave the noise of t = 0 in it)
        x = sched.step(x0, t, x, eta=eta, generator=generator).prev_sample
    return x


def save_denoiser(model: ConditionalDenoiser, path: Path, metadata: dict[str, str]) -> None:
    """Weights + architecture as safetensors (fp16 halves the file; loading restores fp32 on CPU)."""
    save_configured(model, path, metadata, dtype=torch.float16)


def load_denoiser_file(path: Path, device: str = "cpu", fp16: bool = False) -> ConditionalDenoiser:
    """A :class:`ConditionalDenoiser` from :func:`save_denoiser`'s file, eval mode; fp16 only on CUDA."""
    config, state = read_configured(path, "diffusion", "semcom train lrisc --stage diffusion")
    model = ConditionalDenoiser(DenoiserConfig.from_dict(config))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model = model.to(device).eval()
    return model.half() if fp16 and device.startswith("cuda") else model


@lru_cache(maxsize=4)
def load_denoiser(name: str, device: str = "cpu") -> ConditionalDenoiser:
    """``shared/weights/<name>.safetensors`` on ``device`` (fp16 on CUDA), loaded once per process."""
    return load_denoiser_file(WEIGHTS_DIR / f"{name}.safetensors", device, fp16=device.startswith("cuda"))
