"""``lrisc``: latent JSCC of adaptive length, then conditional diffusion guided by the received latent.

Transmit (LRISC, seed paper 000):
    frame (padded to a multiple of 16) -> latent codec encoder -> z / std = z_n (8 x H/8 x W/8)
    -> SNR-adaptive latent JSCC encoder (AF modules get the SNR fed back, or ``snr_db``)
    -> the first k of 32 importance-ordered maps -> k * H * W / 512 unit-power complex symbols
Receive:
    ZF-equalised symbols -> MMSE scaling -> latent JSCC decoder (SNR from the CSI) -> z_hat
    -> ``steps`` DDIM steps of the conditional UNet guided by z_hat and the SNR -> z0
    -> the receiver's latent decoder -> frame.  ``steps = 0`` (the default) skips the diffusion; the decoder is
    then the one tuned on the JSCC's output (``lrisc_decoder_ae``), else the one tuned with the generator.

Adaptive length: the rate knob ``cbr`` is the most the stream may spend (1/192, 1/96, 1/64
or 1/48; with TAEF2 also 1/32 and 1/24); the rate policy ``snr`` sends fewer maps when the
receiver reports a good channel (:data:`RATE_POLICY`), ``fixed`` always sends ``cbr``. Before
any feedback (and in ``semcom eval``, which has no feedback link) the policy sends ``cbr``.
With one length everywhere the receiver reads it from the payload's symbol count.

Latent codecs (``codec``): ``embedded`` is the project's conv autoencoder (8 x H/8 x W/8, ships
with semcom); ``taef2`` is TAEF2's 32-channel FLUX.2 latent space (hub weights, SHA-256 pinned),
with its own JSCC (``lrisc_taef2_jscc``, 64 maps); ``auto`` (the default) picks ``taef2`` where its
weights are on this machine and the header then names the concrete codec, so a receiver without
TAEF2 refuses the stream (``model_unavailable``) and keeps serving. With TAEF2, ``length=content``
lets an entropy model (a scale hyperprior, :mod:`shared.nets.entropy`) give each 64x64-pixel block
of the symbol grid a prefix in proportion to the information it holds, within the same budget;
the length map (3 bits a block) is side information, sent exactly (a QPSK r 1/3 LDPC payload)
and counted in the rate.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from shared.codecs.frames import LATENT_CODEC, as_frame, frame_tensor, padded, to_latent
from shared.codecs.taef2 import hub_codec
from shared.generators.diffusion import latent_guidance, sample
from shared.nets.block_lengths import (
    block_slices,
    from_block_symbols,
    grid_blocks,
    n_values,
    pack_lengths,
    to_block_symbols,
    unpack_lengths,
)
from shared.nets.entropy import allocate, block_bits, load_entropy
from shared.nets.jscc import from_symbols, maps_for_cbr, mmse_scale, snr_from_noise_var, to_symbols
from shared.nets.latent_jscc import LatentJSCCConfig, latent_normalisation, load_latent_jscc
from shared.nets.precision import Precision
from shared.nets.weights_file import WEIGHTS_DIR
from shared.phy.link import LinkConfig, receive, transmit
from shared.schemes.base import (
    BatchedReceive,
    DecodeFailure,
    Encoded,
    Payload,
    Received,
    SchemeParams,
    SchemeSpec,
    Transmit,
    register,
)
from shared.schemes.lrisc_nets import (
    TAEF2,
    TAEF2_TUNED,
    denoiser_at,
    jscc_decoder_at,
    pixel_decoder_at,
    tuned_decoder_file,
)

PAYLOAD = "latent"
LENGTHS = "lengths"  # the length map of content-adaptive frames (digital, exact)
RECEIVER_CODEC = "lrisc-latent-ae"  # the same encoder, with the decoder tuned jointly with the diffusion generator
# the same encoder, with the decoder tuned on the JSCC's output (steps=0): registry name, shared/weights/<file>
DECODER_CODEC, DECODER_WEIGHTS = "lrisc-decoder-ae", "lrisc_decoder_ae"
DOWNSAMPLE = 16  # latent codec 8x, JSCC 2x: pixels per symbol-grid cell, per side
# (feedback SNR floor in dB, maps sent). Measured JSCC-only on the validation photos (semcom eval,
# steps=0, AWGN): at 15 dB half the maps give 22.19 dB against 22.49 with all of them; at 10 dB
# three quarters give 22.10 against 22.35; at 5 dB they lose 0.35 dB and at 0 dB 0.46, so send all
RATE_POLICY = ((15.0, 16), (8.0, 24), (-math.inf, 32))
# TAEF2 (codec=taef2): its JSCC, entropy model and rates (the JSCC's sendable prefixes per block)
TAEF2_JSCC, TAEF2_ENTROPY, TAEF2_DIFFUSION = "lrisc_taef2_jscc", "lrisc_taef2_entropy", "lrisc_taef2_diffusion"
TAEF2_RATES = (8, 16, 24, 32, 48, 64)  # CBR 1/192 ... 1/24
BLOCK = 4  # symbol-grid cells per side of a length-map block (64x64 pixels): 16 blocks at 256x256 fit one LDPC block
# the length map's link: 3 bits a block in k = 128 blocks at QPSK r 1/3 (~-1 dB threshold): it must arrive
# wherever the analog latent is worth decoding; 192 symbols at 256x256 (4.7% of CBR 1/48), counted in the rate
LENGTH_LINK = LinkConfig(modulation="qpsk", code_rate=1 / 3, ldpc_k=128)
CODEC_DEFAULTS = {"embedded": {"jscc_weights": "lrisc_jscc", "diffusion_weights": "lrisc_diffusion"},
                  "taef2": {"jscc_weights": TAEF2_JSCC, "diffusion_weights": TAEF2_DIFFUSION}}


def taef2_ready() -> bool:
    """TAEF2's files on this machine (hub mirror or cache) and its JSCC among the weights: what codec=auto needs."""
    if not (WEIGHTS_DIR / f"{TAEF2_JSCC}.safetensors").is_file():
        return False
    from shared.registry.table import availability  # the table imports every backend: only when asked

    return availability("taef2")[0]


DIFFUSION_WEIGHTS_PATTERN = r"^lrisc_(taef2_)?diffusion[a-z0-9_]{0,32}$"  # a name in shared/weights, never a path


class LriscParams(SchemeParams):
    codec: Literal["auto", "embedded", "taef2"] = "auto"  # auto: taef2 where its weights are here (the header names the result)
    # taef2: content = per-block lengths by the entropy model; uniform by default: content measured no better, and no
    # allocation could be with this JSCC (benchmarks/length_allocation.py, README)
    length: Literal["content", "uniform"] = "uniform"
    cbr: float = Field(default=1 / 48, gt=0, le=1)  # the most the stream spends: 4,096 symbols per 256x256
    rate_policy: Literal["snr", "fixed"] = "snr"  # snr: fewer maps when the fed-back SNR is high; fixed: always cbr
    snr_db: float = Field(default=10.0, ge=-10, le=40)  # transmitter AF SNR until feedback supplies the real one
    # steps: 0 (the JSCC alone) on both codecs. The embedded generator's one step was chosen on seven training photos
    # (README, "choosing the samplers"); on 24 held-out corpus photos the JSCC alone beat it at every SNR, AWGN and
    # Rayleigh (+1.0-1.5 dB PSNR, 1-5% lower effnet_dist, 30% faster; README). taef2 samples where its generator ships
    steps: int = Field(default=0, ge=0, le=50)  # DDIM steps at the receiver; 0 = JSCC only
    guidance: float = Field(default=1.0, ge=0, le=10)  # classifier-free guidance; 1 = one UNet call per step
    strength: float = Field(default=0.02, gt=0, le=1)  # with steps: 1 = start from noise; < 1 = from z_hat noised to this level (0.02: t = 19, the best on the training photos)
    seed: int = Field(default=0, ge=0)  # sampling noise: the same frame and channel give the same picture
    # shared/weights/<name>; the codec's own by default (lrisc_jscc, lrisc_taef2_jscc)
    jscc_weights: str = Field(default="lrisc_jscc", pattern=r"^lrisc_(taef2_)?jscc[a-z0-9_]{0,32}$")
    diffusion_weights: str = Field(default="lrisc_diffusion", pattern=DIFFUSION_WEIGHTS_PATTERN)
    # the receiver's networks: auto = fp16 on CUDA, fp32 on the CPU; int8 decodes TAEF2 6.3x faster on a VNNI Xeon (README)
    precision: Precision = "auto"
    # the receiver's pixel decoder: tuned on what the JSCC delivers (taef2: lrisc_taef2_decoder, the default where it
    # ships, measured better in the README; embedded: lrisc_decoder_ae with steps=0 where it ships, measured better in
    # the README, and with steps >= 1 the one tuned with the generator), or the codec's own
    decoder: Literal["tuned", "plain"] = "tuned"
    # torch.compile the JSCC and pixel decoders (CUDA: CUDA graphs, batches padded to 1/2/4/8); off: the first frame of
    # each shape compiles for seconds to a minute, and on 2 CPU cores it gained little (README)
    compile: bool = False

    @model_validator(mode="before")
    @classmethod
    def _codec_defaults(cls, data):
        """Resolve ``codec=auto`` and fill the chosen codec's defaults the caller did not set."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("codec", "auto") == "auto":
            data["codec"] = "taef2" if taef2_ready() else "embedded"
        codec = data["codec"]
        if not isinstance(codec, str):
            return data  # not a codec name: the field's own validation says so
        for key, value in CODEC_DEFAULTS.get(codec, {}).items():
            data.setdefault(key, value)
        weights = data.get("diffusion_weights")
        if codec == "taef2" and isinstance(weights, str) and re.fullmatch(DIFFUSION_WEIGHTS_PATTERN, weights):
            # sample where the TAEF2 generator ships, else the JSCC alone (only a valid name is looked up)
            data.setdefault("steps", int((WEIGHTS_DIR / f"{weights}.safetensors").is_file()))
            data.setdefault("strength", 1.0)  # unused: the receiver matches the noise level to the remaining error
        if codec == "taef2":
            data.setdefault("decoder", "tuned" if tuned_decoder_file().is_file() else "plain")
        return data

    @model_validator(mode="after")
    def _supported(self) -> "LriscParams":
        if self.codec == "embedded" and self.length == "content":
            raise ValueError("length=content needs codec=taef2 (the embedded JSCC sends one length a frame)")
        if self.codec == "embedded" and self.jscc_weights.startswith("lrisc_taef2") or \
                self.codec == "taef2" and not self.jscc_weights.startswith("lrisc_taef2"):
            raise ValueError(f"jscc_weights={self.jscc_weights} is not a JSCC of codec {self.codec}")
        if (self.codec == "taef2") != self.diffusion_weights.startswith("lrisc_taef2"):
            raise ValueError(f"diffusion_weights={self.diffusion_weights} is not a generator of codec {self.codec}")
        if self.codec == "taef2" and self.decoder == "tuned" and not tuned_decoder_file().is_file():
            raise ValueError(f"decoder=tuned needs shared/weights/{TAEF2_TUNED}.safetensors (semcom train lrisc-taef2 "
                             "--stage decoder, then --export); decoder=plain decodes with TAEF2's own")
        self.max_maps()
        return self

    def rates(self) -> tuple[int, ...]:
        return TAEF2_RATES if self.codec == "taef2" else LatentJSCCConfig().rates

    def max_maps(self) -> int:
        return maps_for_cbr(self.cbr, self.rates(), "lrisc")


def maps_for_snr(snr_db: float | None, max_maps: int, rates: tuple[int, ...] = (8, 16, 24, 32)) -> int:
    """The rate policy: maps to send at a fed-back SNR (None: no feedback yet -> the most allowed).

    :data:`RATE_POLICY` is written in maps of 32; the policy spends the same share of ``max_maps``
    (the largest rate at or below it), so the fed-back SNR moves every operating point."""
    if snr_db is None:
        return max_maps
    want = max_maps * next(k for floor, k in RATE_POLICY if snr_db >= floor) / RATE_POLICY[-1][1]
    return max([r for r in rates if r <= want] or [rates[0]])


@lru_cache(maxsize=2)
def alpha_table(name: str) -> dict[tuple[int, float], float]:
    """The TAEF2 generator's matched noise levels: (maps, SNR dB) -> alpha_bar, from its weights' metadata."""
    import json

    from safetensors import safe_open

    with safe_open(str(WEIGHTS_DIR / f"{name}.safetensors"), framework="pt") as f:
        raw = json.loads((f.metadata() or {}).get("alpha_table", "{}"))
    table = {}
    for key, alpha in raw.items():  # "k32_snr10"
        k, snr = key[1:].split("_snr")
        table[(int(k), float(snr))] = float(alpha)
    if not table:
        raise ValueError(f"{name} has no alpha_table: export it with semcom train lrisc-taef2 --stage diffusion --export")
    return table


def matched_strength(table: dict[tuple[int, float], float], maps: float, snr_db: float, model) -> float:
    """The sampler strength whose noise matches z_hat's remaining error: the nearest measured length, the SNR
    interpolated (clipped to the measured range); lower SNR -> more noise -> more generation."""
    from shared.generators.diffusion import make_scheduler

    k = min({k for k, _ in table}, key=lambda m: abs(m - maps))
    snrs = sorted(s for m, s in table if m == k)
    alpha = float(np.interp(snr_db, snrs, [table[(k, s)] for s in snrs]))
    sched = make_scheduler(model.config)
    t = int(torch.argmin((sched.alphas_cumprod - alpha).abs()))
    return (t + 1) / sched.config.num_train_timesteps


def frame_latent(frame: np.ndarray, codec: str) -> torch.Tensor:
    """(H, W, 3) uint8, padded to whole symbol-grid cells -> what ``codec``'s JSCC encodes: TAEF2's raw latent
    (1, 32, H'/8, W'/8), or the embedded codec's normalised one (1, 8, H'/8, W'/8)."""
    x = frame_tensor(frame, DOWNSAMPLE)  # (1, 3, H', W')
    return hub_codec("cpu").encode_tensor(x) if codec == "taef2" else to_latent(x, "cpu")


def embedded_decoder(tuned: bool, steps: int) -> str:
    """The embedded receiver's latent codec (registry name): with ``tuned``, the decoder tuned with the generator where
    it samples, else the one tuned on the JSCC's output where that ships; otherwise the codec's own."""
    if not tuned:
        return LATENT_CODEC
    if steps:
        return RECEIVER_CODEC
    return DECODER_CODEC if (WEIGHTS_DIR / f"{DECODER_WEIGHTS}.safetensors").is_file() else LATENT_CODEC


class LriscTransmit(Transmit):
    params: LriscParams

    def __init__(self, params: LriscParams):
        super().__init__(params)
        self.feedback_snr_db: float | None = None

    def on_feedback(self, snr_db: float) -> None:
        self.feedback_snr_db = snr_db

    def _operating_point(self) -> tuple[int, float]:
        """(maps to send, the SNR the JSCC encoder is told): the rate policy at the fed-back SNR; ``snr_db`` before any."""
        p = self.params
        policy_snr = self.feedback_snr_db if p.rate_policy == "snr" else None
        tx_snr = self.feedback_snr_db if self.feedback_snr_db is not None else p.snr_db
        return maps_for_snr(policy_snr, p.max_maps(), p.rates()), tx_snr

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> Encoded:
        return self.encode_latent(frame_latent(frame, self.params.codec), *frame.shape[:2])

    @torch.no_grad()
    def encode_latent(self, z: torch.Tensor, h: int, w: int) -> Encoded:
        """An (h, w) frame's :func:`frame_latent` z -> the JSCC's payloads."""
        p = self.params
        k, tx_snr = self._operating_point()
        if p.codec == "embedded":
            s = load_latent_jscc(p.jscc_weights).encode(z, torch.tensor([[tx_snr]]))  # (1, C, H'/16, W'/16)
            symbols = to_symbols(s, k)[0].numpy().astype(np.complex64)  # (k * H' * W' / 512,)
            return Encoded(payloads=[Payload(PAYLOAD, "analog", symbols)],
                           info={"maps": k, "cbr": symbols.size / (h * w * 3), "tx_snr_db": tx_snr})
        mean, std = latent_normalisation(p.jscc_weights)
        z_n = (z - mean) / std  # (1, 32, H'/8, W'/8)
        s = load_latent_jscc(p.jscc_weights).encode(z_n, torch.tensor([[tx_snr]]))[0]  # (M, H'/16, W'/16)
        gh, gw = s.shape[1:]
        maps = np.full(grid_blocks(gh, gw, BLOCK), k)  # (hb, wb) one length everywhere
        payloads = []
        if p.length == "content":
            cells = np.array([(rs.stop - rs.start) * (cs.stop - cs.start) for rs, cs in block_slices(gh, gw, BLOCK)]).reshape(maps.shape)
            z_bits, _ = load_entropy(TAEF2_ENTROPY)(z_n)  # (1, 32, H'/8, W'/8) bits per latent value
            maps = allocate(block_bits(z_bits[0], 2, BLOCK), cells, TAEF2_RATES, k * gh * gw)
            lengths = pack_lengths(maps, TAEF2_RATES)
            payloads.append(Payload(LENGTHS, "digital", transmit(lengths, LENGTH_LINK), bits=8 * len(lengths)))
        symbols = to_block_symbols(s, maps, BLOCK).numpy().astype(np.complex64)  # (N,)
        payloads.insert(0, Payload(PAYLOAD, "analog", symbols))
        n = sum(pl.symbols.size for pl in payloads)
        return Encoded(payloads=payloads, info={"maps": float(n_values(maps, gh, gw, BLOCK)) / (gh * gw), "cbr": n / (h * w * 3),
                                                "tx_snr_db": tx_snr, "length_symbols": n - symbols.size})


class LriscReceive(BatchedReceive):
    params: LriscParams

    def __init__(self, params: LriscParams):
        super().__init__(params)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        # the latent decoder: TAEF2's (or its copy tuned on what the JSCC delivers), or the embedded one tuned with the generator
        tuned = params.decoder == "tuned"
        if params.codec == "taef2":
            self.codec = TAEF2_TUNED if tuned else TAEF2
        else:
            self.codec = embedded_decoder(tuned, params.steps)

    @torch.no_grad()
    def decode_batch(self, frames: list[dict[str, Received]], height: int, width: int) -> list[np.ndarray | DecodeFailure]:
        """One pass of each network over every frame that arrived whole (the others: their DecodeFailure).
        A frame decodes to the same picture alone or in a batch (its own sampling noise, its own noise level)."""
        p = self.params
        out: list[np.ndarray | DecodeFailure | None] = [None] * len(frames)
        ready = []  # (index, s_hat (1, M, gh, gw), snr (1, 1), rate (1, 1, gh, gw), mean maps sent)
        for i, payloads in enumerate(frames):
            try:
                ready.append((i, *self._received_maps(payloads, height, width)))
            except DecodeFailure as exc:
                out[i] = exc
        if ready:
            s_hat, snr, rate = (torch.cat([r[k] for r in ready]).to(self.device) for k in (1, 2, 3))  # (B, ...)
            z_hat = jscc_decoder_at(p.jscc_weights, p.codec, p.precision, self.device, p.compile)(s_hat, snr, rate)  # (B, L, H'/8, W'/8)
            if p.steps:
                z_hat = self._generate(z_hat, snr, [r[4] for r in ready])
            y = pixel_decoder_at(self.codec, p.jscc_weights, p.precision, self.device, p.compile)(z_hat)  # (B, 3, H', W')
            for j, r in enumerate(ready):
                out[r[0]] = as_frame(y[j : j + 1], height, width)
        return out  # type: ignore[return-value]

    def latent(self, payloads: dict[str, Received], height: int, width: int) -> torch.Tensor:
        """One frame's payloads -> the JSCC decoder's z_hat (1, L, H'/8, W'/8), normalised, with no diffusion."""
        p = self.params
        s_hat, snr, rate, _ = self._received_maps(payloads, height, width)
        decoder = jscc_decoder_at(p.jscc_weights, p.codec, p.precision, self.device, p.compile)
        return decoder(s_hat.to(self.device), snr.to(self.device), rate.to(self.device))

    def _received_maps(self, payloads: dict[str, Received], height: int, width: int
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """A frame's payloads -> (received maps (1, M, gh, gw), SNR (1, 1) dB, share of maps sent (1, 1, gh, gw),
        mean maps sent); raises DecodeFailure for a frame that cannot be decoded."""
        if PAYLOAD not in payloads:
            raise DecodeFailure(f"no '{PAYLOAD}' payload")
        rx = payloads[PAYLOAD]
        jscc = load_latent_jscc(self.params.jscc_weights)
        gh, gw = padded(height, DOWNSAMPLE) // DOWNSAMPLE, padded(width, DOWNSAMPLE) // DOWNSAMPLE
        x_hat = torch.from_numpy(rx.symbols.astype(np.complex64))[None]  # (1, N)
        nv = torch.from_numpy(rx.noise_var.astype(np.float32))[None]  # (1, N)
        if rx.noise_var.size != rx.symbols.size:
            raise DecodeFailure(f"{rx.symbols.size} symbols but {rx.noise_var.size} noise variances")
        if self.params.codec == "embedded":
            k, rest = divmod(2 * rx.symbols.size, gh * gw)
            if rest or k not in jscc.config.rates:
                raise DecodeFailure(f"{rx.symbols.size} symbols is no supported length for {height}x{width}")
            s_hat = from_symbols(mmse_scale(x_hat, nv), jscc.config.maps, gh, gw)  # (1, C, gh, gw)
            return s_hat, snr_from_noise_var(nv), torch.ones(1, 1, gh, gw), float(k)
        maps = self._length_map(payloads, rx.symbols.size, gh, gw)
        if 2 * rx.symbols.size != n_values(maps, gh, gw, BLOCK):
            raise DecodeFailure(f"{rx.symbols.size} symbols do not match the length map for {height}x{width}")
        s_hat, rate = from_block_symbols(mmse_scale(x_hat, nv)[0], maps, jscc.config.maps, gh, gw, BLOCK)
        return s_hat[None], snr_from_noise_var(nv), rate[None], float(maps.mean())

    def _length_map(self, payloads: dict[str, Received], n_symbols: int, gh: int, gw: int) -> np.ndarray:
        """TAEF2's per-block lengths (hb, wb): from the length-map payload, or one length read off the symbol count."""
        shape = grid_blocks(gh, gw, BLOCK)
        if LENGTHS not in payloads:
            k, rest = divmod(2 * n_symbols, gh * gw)
            if rest or k not in TAEF2_RATES:
                raise DecodeFailure(f"{n_symbols} symbols is no supported length for a {16 * gh}x{16 * gw} grid")
            return np.full(shape, k)
        data = receive(payloads[LENGTHS].symbols, payloads[LENGTHS].noise_var, LENGTH_LINK)
        if data is None:
            raise DecodeFailure("the length map was lost (CRC)")
        try:
            return unpack_lengths(data, shape, TAEF2_RATES)
        except ValueError as exc:
            raise DecodeFailure(str(exc)) from None

    def _generate(self, z_hat: torch.Tensor, snr: torch.Tensor, maps: list[float]) -> torch.Tensor:
        """``steps`` DDIM steps from z_hat (B, L, h, w), each frame from its own seeded noise: with TAEF2 at the noise
        level matched to its remaining error (frames of one level sample together), else at ``strength``."""
        p = self.params
        model = denoiser_at(p.diffusion_weights, p.precision, self.device)
        strengths = [matched_strength(alpha_table(p.diffusion_weights), k, float(s), model) if p.codec == "taef2"
                     else p.strength for k, s in zip(maps, snr.cpu())]
        noise = torch.randn((1, *z_hat.shape[1:]), generator=torch.Generator().manual_seed(p.seed))  # (1, L, h, w)
        out = torch.empty_like(z_hat)
        for level in sorted(set(strengths)):
            idx = [j for j, st in enumerate(strengths) if st == level]
            out[idx] = sample(model, latent_guidance(z_hat[idx], snr[idx]), tuple(z_hat[idx].shape), steps=p.steps,
                              guidance=p.guidance, strength=level, init=z_hat[idx],
                              noise=noise.expand(len(idx), -1, -1, -1)).to(out.dtype)
        return out

    def warmup(self) -> None:
        """Every network built (int8: calibrated) before the first frame."""
        p = self.params
        jscc_decoder_at(p.jscc_weights, p.codec, p.precision, self.device, p.compile)
        pixel_decoder_at(self.codec, p.jscc_weights, p.precision, self.device, p.compile)
        if p.steps:
            denoiser_at(p.diffusion_weights, p.precision, self.device)
            if p.codec == "taef2":
                alpha_table(p.diffusion_weights)


SPEC = register(
    SchemeSpec(
        name="lrisc",
        help="LRISC: latent JSCC of adaptive length (SNR-adaptive), then conditional diffusion guided by the received latent",
        params=LriscParams,
        transmit=LriscTransmit,
        receive=LriscReceive,
        payload_names=(PAYLOAD, LENGTHS),
        required_payloads=(PAYLOAD,),
    )
)
