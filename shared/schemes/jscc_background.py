"""``keyregion``'s JSCC background (``background=jscc``): the whole frame through lrisc's JSCC at a low rate, the key
cells decoded from their own received latents on top of it. On TAEF2 (lrisc's TAEF2 JSCC, 64 maps) and on the
embedded codec (lrisc's embedded JSCC, 32 maps, whose latent is the key latents' own: no renormalising).

Why: with a generated background (``background=generate``) the key region lost 1.6-2.0 dB of PSNR to the
generated context, which TAEF2's decoder (a receptive field of many latent cells) mixes into the key
pixels, and the rest was far from the scene (README, "keyregion's background").

Transmit: the frame's latent (encoded once: the key latents come from it too) -> lrisc's
JSCC at the SNR the receiver feeds back (``snr_db`` before any) -> its first ``background_maps`` maps
in every block: the ``rest`` payload (analog, one length, read off its symbol count).
Receive: the JSCC decoder -> z_hat (normalised as the JSCC was trained); the key latents estimated with
z_hat as their prior mean (:func:`key_estimate`: at low SNR they lean on the JSCC, at high SNR on what
arrived); the key pixels (8 x 8 per key cell) from the codec's own decoder of z_hat with the key cells
replaced by those estimates, the others from the decoder lrisc's receiver uses on z_hat (on TAEF2 its
receiver-tuned copy where that ships), blended over ``FEATHER_PX`` on each side of the edge.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from shared.codecs.frames import LATENT_CODEC, as_frame
from shared.generators import semantic_taef2 as taef2
from shared.nets.jscc import cbr_of
from shared.nets.latent_jscc import latent_normalisation
from shared.schemes.base import Encoded, Received
from shared.schemes.lrisc import PAYLOAD, TAEF2_JSCC, LriscParams, LriscReceive, LriscTransmit
from shared.schemes.lrisc_nets import TAEF2, pixel_decoder_at

PART = "rest"  # the payload's name in keyregion's frames
# the key pixels blend into the rest over 4 px on each side of the key cells' edge: TAEF2's own decoder and the tuned
# one differ slightly in tone, and a hard edge showed as a lighter rectangle round a face; the blend also measured
# +0.04-0.12 dB key PSNR at 5-20 dB AWGN (benchmarks/eval_semantic_taef2.sh before and after)
FEATHER_PX = 4
MIN_ERROR_VAR = 1e-4  # the JSCC's error variance is never taken as zero (a latent value's is ~1): the key still counts


def key_estimate(observed: torch.Tensor, noise_var: torch.Tensor, prior_mean: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The key latents' LMMSE estimate with the JSCC's z_hat as prior mean: y = z + n (noise variance v per value) and
    z ~ N(z_hat, s2) give z_hat + s2 / (s2 + v) (y - z_hat), where s2, the JSCC's error variance per channel, comes
    from the frame itself (empirical Bayes: E (y - z_hat)^2 = s2 + E v over the key cells).

    observed, noise_var, prior_mean: (1, L, gh, gw); grid: (1, 1, gh, gw) the key cells -> (1, L, gh, gw), 0 outside."""
    inside = grid.bool().expand_as(observed)  # (1, L, gh, gw)
    cells = grid.sum().clamp_min(1)
    mean_sq = lambda t: (t * inside).sum((0, 2, 3), keepdim=True) / cells  # noqa: E731  (1, L, 1, 1) over the key cells
    error_var = (mean_sq((observed - prior_mean) ** 2) - mean_sq(noise_var)).clamp_min(MIN_ERROR_VAR)  # (1, L, 1, 1)
    z = prior_mean + error_var / (error_var + noise_var) * (observed - prior_mean)
    return torch.where(inside, z, torch.zeros_like(z))


def background_params(codec: str, maps: int, snr_db: float) -> LriscParams:
    """lrisc on ``codec`` with one length of ``maps`` maps everywhere, no diffusion: the background's JSCC at both ends."""
    return LriscParams(codec=codec, length="uniform", cbr=cbr_of(maps), rate_policy="fixed", snr_db=snr_db, steps=0)


class BackgroundTransmit:
    """The transmitter's half: a frame (on TAEF2: its latent) -> the ``rest`` symbols at the fed-back SNR."""

    def __init__(self, codec: str, maps: int, snr_db: float):
        self.jscc = LriscTransmit(background_params(codec, maps, snr_db))

    def on_feedback(self, snr_db: float) -> None:
        self.jscc.on_feedback(snr_db)

    def encode(self, z: torch.Tensor, height: int, width: int) -> Encoded:
        """A (height, width) frame's latent (lrisc's frame_latent) -> one ``rest`` payload (its info: the JSCC's)."""
        encoded = self.jscc.encode_latent(z, height, width)
        (payload,) = encoded.payloads  # uniform length: no length map
        payload.name = PART
        return encoded


class BackgroundReceive:
    """The receiver's half: the ``rest`` payload + the received key latents -> the frame."""

    def __init__(self, codec: str, maps: int, snr_db: float):
        self.jscc = LriscReceive(background_params(codec, maps, snr_db))
        self.device = self.jscc.device
        self.taef2 = codec == "taef2"
        self.key_codec = TAEF2 if self.taef2 else LATENT_CODEC  # the key pixels: the codec's own decoder

    def _decoder(self, codec: str) -> torch.nn.Module:
        p = self.jscc.params
        return pixel_decoder_at(codec, p.jscc_weights, p.precision, self.device, p.compile)

    @torch.no_grad()
    def decode(self, rest: Received, observed: tuple[torch.Tensor, torch.Tensor] | None, grid: torch.Tensor | None,
               height: int, width: int) -> np.ndarray:
        """``rest`` and, where they arrived, the key latents as observed (values and noise variances (1, L, gh, gw),
        in the generator's normalisation) with their mask ``grid`` (1, 1, gh, gw) -> (height, width, 3) uint8.
        Raises DecodeFailure where ``rest`` does not fit the frame."""
        z_hat = self.jscc.latent({PAYLOAD: rest}, height, width)  # (1, L, H'/8, W'/8), the JSCC's normalisation
        y = self._decoder(self.jscc.codec)(z_hat)  # (1, 3, H', W')
        if observed is not None:
            pad = (0, z_hat.shape[3] - grid.shape[3], 0, z_hat.shape[2] - grid.shape[2])  # H' pads to 16, the grid to 8
            values, noise_var, grid = (F.pad(t.to(self.device), pad) for t in (*observed, grid))  # (1, ., H'/8, W'/8)
            to_key, from_key = self._normalisations()
            z_key = from_key(key_estimate(values, noise_var, to_key(z_hat), grid))  # the estimate, back in z_hat's
            key_pixels = self._decoder(self.key_codec)((z_hat * (1 - grid) + z_key * grid).to(z_hat.dtype))  # (1, 3, H', W')
            inside = F.interpolate(grid, scale_factor=y.shape[2] // grid.shape[2], mode="nearest")  # (1, 1, H', W')
            weight = F.avg_pool2d(inside, 2 * FEATHER_PX + 1, 1, FEATHER_PX, count_include_pad=False)  # 1/2 on the edge
            y = weight * key_pixels + (1 - weight) * y
        return as_frame(y, height, width)

    def _normalisations(self):
        """(z_hat -> the key latents' normalisation, and back): TAEF2's JSCC and generator normalise its latent each
        their own way; the embedded JSCC codes the embedded codec's normalised latent, the key latents themselves."""
        if not self.taef2:
            return (lambda z: z), (lambda z: z)
        norm = taef2.load_normaliser(self.device)
        mean, std = (t.to(self.device) for t in latent_normalisation(TAEF2_JSCC))
        return (lambda z: norm.forward(z * std + mean)), (lambda z: (norm.inverse(z) - mean) / std)

    def warmup(self) -> None:
        self.jscc.warmup()
        self._decoder(self.key_codec)
        if self.taef2:
            taef2.load_normaliser(self.device)
