"""``lrisc``'s receiver networks at a precision (``precision=auto|fp32|fp16|bf16|int8``, :mod:`shared.nets.precision`).

Three networks decode a frame: the latent JSCC's decoder (symbols -> z_hat), optionally the
diffusion UNet (z_hat -> z0), and the latent codec's decoder (z0 -> pixels). Each is built once per
(weights, precision, device) and cached. int8 calibrates the JSCC decoder and the pixel decoder on
their own inputs: the six scikit-image photos (never trained on) sent through the real chain
(latent encoder, JSCC encoder, a sendable length, AWGN at 0-20 dB, MMSE); the UNet, which FX cannot
trace, gets int8 linear layers (its convolutions stay fp32).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.nets.block_lengths import from_block_symbols, grid_blocks, to_block_symbols
from shared.nets.compiled import maybe_compiled
from shared.nets.jscc import from_symbols, mmse_scale, to_symbols
from shared.nets.latent_jscc import LatentJSCC, latent_normalisation, load_latent_jscc
from shared.nets.precision import DTYPES, at_precision, runnable
from shared.nets.weights_file import WEIGHTS_DIR

TAEF2 = "taef2"  # the hub codec's registry name
TAEF2_TUNED = "lrisc_taef2_decoder"  # TAEF2's decoder tuned at the receiver on the JSCC's output (shared/weights/<name>)
CALIBRATION_SNRS_DB = (0.0, 5.0, 10.0, 15.0, 20.0)  # the trained SNR range: activation ranges cover every operating point


class LatentJsccDecoder(nn.Module):
    """(B, C, h, w) received maps, (B, 1) SNR dB, (B, 1, h, w) share of maps sent -> z_hat (B, L, 2h, 2w), normalised.

    ``rate`` is ignored by a JSCC without a rate input (the embedded codec's, which sends one length a frame)."""

    def __init__(self, net: LatentJSCC):
        super().__init__()
        self.net = net

    def forward(self, s: torch.Tensor, snr_db: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        return self.net.decode(s, snr_db, rate if self.net.config.rate_input else None)


class PixelDecoder(nn.Module):
    """Normalised latent (B, L, h, w) -> pixels (B, 3, 8h, 8w) about [0, 1]: a latent codec's decoder with the
    de-normalisation the JSCC was trained with folded in (TAEF2: z * std + mean; embedded: z * std, output in [-1, 1])."""

    def __init__(self, decoder: nn.Module, mean: torch.Tensor, std: torch.Tensor, signed_output: bool):
        super().__init__()
        self.decoder = decoder
        self.register_buffer("mean", mean.float().reshape(1, -1, 1, 1))
        self.register_buffer("std", std.float().reshape(1, -1, 1, 1))
        self.signed_output = signed_output

    def forward(self, z_n: torch.Tensor) -> torch.Tensor:
        y = self.decoder(z_n * self.std + self.mean)  # (B, 3, 8h, 8w)
        return y * 0.5 + 0.5 if self.signed_output else y


def pixel_decoder_fp32(codec: str, jscc_weights: str) -> PixelDecoder:
    """The fp32 :class:`PixelDecoder` of ``codec`` (``taef2``, its receiver-tuned ``lrisc_taef2_decoder`` or an embedded
    latent codec's registry name), on the CPU."""
    if codec in (TAEF2, TAEF2_TUNED):
        from shared.schemes.lrisc import hub_codec

        mean, std = latent_normalisation(jscc_weights)
        decoder = hub_codec("cpu").net.decoder
        if codec == TAEF2_TUNED:
            decoder = tuned_taef2_decoder(decoder)
        return PixelDecoder(decoder, mean, std, signed_output=False)
    from shared.codecs.frames import latent_codec

    ae, std = latent_codec("cpu", codec)
    return PixelDecoder(ae.decoder, torch.zeros_like(std), std, signed_output=True)


def tuned_decoder_file() -> Path:
    """Where the receiver-tuned TAEF2 decoder ships (``shared/weights/lrisc_taef2_decoder.safetensors``)."""
    return WEIGHTS_DIR / f"{TAEF2_TUNED}.safetensors"


def tuned_taef2_decoder(plain: nn.Module) -> nn.Module:
    """A copy of TAEF2's decoder ``plain`` (the hub's architecture and width) holding the receiver-tuned weights."""
    import copy

    from safetensors.torch import load_file

    decoder = copy.deepcopy(plain)
    state = load_file(str(tuned_decoder_file()))  # fp16 on disk
    try:
        decoder.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as exc:
        raise ValueError(f"{TAEF2_TUNED} does not fit this TAEF2 decoder: {str(exc).splitlines()[0]}") from None
    return decoder.eval().requires_grad_(False)


@lru_cache(maxsize=2)
def calibration(codec: str, jscc_weights: str) -> tuple[list[tuple[torch.Tensor, ...]], list[tuple[torch.Tensor]]]:
    """(JSCC-decoder inputs, pixel-decoder inputs): the six scikit-image photos at 256x256 through the real chain,
    one batch per SNR in :data:`CALIBRATION_SNRS_DB`, each at a different sendable length."""
    from shared.codecs.frames import to_latent
    from shared.schemes.lrisc import BLOCK, hub_codec
    from shared.sources import skimage_photos, square_resize

    jscc = load_latent_jscc(jscc_weights)
    x = torch.stack([torch.from_numpy(square_resize(p, 256)).permute(2, 0, 1).float() / 255
                     for p in skimage_photos().values()])  # (6, 3, 256, 256)
    with torch.no_grad():
        if codec == TAEF2:
            mean, std = latent_normalisation(jscc_weights)
            z_n = (hub_codec("cpu").encode_tensor(x) - mean) / std  # (6, 32, 32, 32)
        else:
            z_n = to_latent(x, "cpu")  # (6, 8, 32, 32), the embedded transmitter's codec
        g = torch.Generator().manual_seed(0)
        rates = jscc.config.rates
        jscc_batches, pixel_batches = [], []
        for i, snr in enumerate(CALIBRATION_SNRS_DB):
            snr_t = torch.full((x.shape[0], 1), snr)
            s = jscc.encode(z_n, snr_t)  # (6, M, 16, 16)
            m, gh, gw = s.shape[1:]
            k = rates[-1 - i % len(rates)]  # the longest first, then shorter prefixes
            nv = 10 ** (-snr / 10)
            if jscc.config.rate_input:
                maps = np.full(grid_blocks(gh, gw, BLOCK), k)
                sym = torch.stack([to_block_symbols(si, maps, BLOCK) for si in s])  # (6, N)
            else:
                sym = to_symbols(s, k)  # (6, N)
            noise = torch.complex(torch.randn(sym.shape, generator=g), torch.randn(sym.shape, generator=g)) * (nv / 2) ** 0.5
            rx = mmse_scale(sym + noise, torch.full(sym.shape, nv))  # (6, N)
            if jscc.config.rate_input:
                pairs = [from_block_symbols(r, maps, m, gh, gw, BLOCK) for r in rx]
                s_hat, rate = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])  # (6, M, gh, gw), (6, 1, gh, gw)
            else:
                s_hat, rate = from_symbols(rx, m, gh, gw), torch.ones(x.shape[0], 1, gh, gw)
            jscc_batches.append((s_hat, snr_t, rate))
            pixel_batches.append((LatentJsccDecoder(jscc)(s_hat, snr_t, rate),))
    return jscc_batches, pixel_batches


def transmit_codec(codec: str) -> str:
    """The latent codec whose encoder made what a receiver of ``codec`` (``taef2``, ``embedded`` or a latent decoder's
    registry name) gets: TAEF2's, or the embedded transmitter's."""
    from shared.codecs.frames import LATENT_CODEC

    return TAEF2 if codec in (TAEF2, TAEF2_TUNED) else LATENT_CODEC


@lru_cache(maxsize=4)
def jscc_decoder_at(jscc_weights: str, codec: str, precision: str, device: str, compile_it: bool = False) -> nn.Module:
    """The latent JSCC's :class:`LatentJsccDecoder` at ``precision`` on ``device`` (int8 calibrated on the chain),
    under torch.compile with ``compile_it``."""
    net = at_precision(LatentJsccDecoder(load_latent_jscc(jscc_weights)), precision, device,
                       lambda: calibration(transmit_codec(codec), jscc_weights)[0])
    return maybe_compiled(net, compile_it, device)


@lru_cache(maxsize=4)
def pixel_decoder_at(codec: str, jscc_weights: str, precision: str, device: str, compile_it: bool = False) -> nn.Module:
    """``codec``'s :class:`PixelDecoder` at ``precision`` on ``device`` (int8 calibrated on decoded latents),
    under torch.compile with ``compile_it``."""
    net = at_precision(pixel_decoder_fp32(codec, jscc_weights), precision, device,
                       lambda: calibration(transmit_codec(codec), jscc_weights)[1])
    return maybe_compiled(net, compile_it, device)


@lru_cache(maxsize=4)
def denoiser_at(name: str, precision: str, device: str) -> nn.Module:
    """The diffusion UNet ``shared/weights/<name>`` at ``precision`` on ``device``: fp16 / bf16 weights (the sampler
    follows the model's dtype), or int8 linear layers on the CPU."""
    from shared.generators import diffusion

    run = runnable(precision, device)
    model = diffusion.load_denoiser_file(diffusion.WEIGHTS_DIR / f"{name}.safetensors", "cpu")  # fp32, a copy of its own
    if run == "int8":
        return at_precision(model, "int8", device)  # no calibration: the linear layers only
    return model.to(device, DTYPES.get(run, torch.float32))


CACHES = (calibration, jscc_decoder_at, pixel_decoder_at, denoiser_at)  # what a change of weights must clear
