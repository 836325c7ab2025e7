"""The contract every scheme fulfils, and the registry that names them.

A scheme has a transmit side (frame -> payloads of complex symbols) and a
receive side (equalised symbols -> frame). Both are objects, one per stream,
so a scheme may keep state across video frames (side information that has
not changed is not re-sent; the receiver keeps the last one).

Scheme parameters travel in the header (``scheme_params``) and are validated
on both sides by the scheme's pydantic ``Params`` model, so the receiver
needs no configuration of its own and never trusts a header blindly.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict


class DecodeFailure(Exception):
    """The frame could not be reconstructed (e.g. a failed CRC); the receiver shows the last good one."""


class SchemeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # a NaN parameter is never meant


@dataclass
class Payload:
    name: str
    role: Literal["analog", "digital"]
    symbols: np.ndarray  # (n,) complex64, unit average power
    bits: int = 0  # source bits carried, for digital payloads (bits per pixel in reports)


@dataclass
class Encoded:
    payloads: list[Payload]
    info: dict = field(default_factory=dict)  # per-frame choices worth reporting (quality, scale, ...)


@dataclass
class Received:
    """One payload after equalisation: symbols and their effective noise variances."""

    symbols: np.ndarray  # (n,) complex64
    noise_var: np.ndarray  # (n,) float32


class Transmit(ABC):
    def __init__(self, params: SchemeParams):
        self.params = params

    @abstractmethod
    def encode(self, frame: np.ndarray) -> Encoded:
        """frame (H, W, 3) uint8 RGB -> payloads."""

    def on_feedback(self, snr_db: float) -> None:
        """The channel SNR (dB) the receiver saw on a recent frame; rate policies use it, others ignore it."""

    def warmup(self, height: int, width: int) -> None:
        """Load models and build codes before the first real frame (encodes a grey frame)."""
        self.encode(np.full((height, width, 3), 128, np.uint8))


class Receive(ABC):
    stateful: ClassVar[bool] = False  # keeps state between a stream's frames (held side information): one per stream

    def __init__(self, params: SchemeParams):
        self.params = params

    @abstractmethod
    def decode(self, payloads: dict[str, Received], height: int, width: int) -> np.ndarray:
        """Equalised payloads -> frame (height, width, 3) uint8; raises DecodeFailure."""

    def decode_batch(self, frames: list[dict[str, Received]], height: int, width: int) -> list[np.ndarray | DecodeFailure]:
        """Several frames of one size at once -> per frame its picture or its DecodeFailure. This default
        decodes them one by one; a scheme whose network batches overrides it."""
        out: list[np.ndarray | DecodeFailure] = []
        for payloads in frames:
            try:
                out.append(self.decode(payloads, height, width))
            except DecodeFailure as exc:
                out.append(exc)
        return out

    def warmup(self) -> None:
        """Load models and build codes before the first real frame; by default nothing to do."""


class BatchedReceive(Receive):
    """A receiver whose networks decode batches: ``decode`` is ``decode_batch`` of one frame."""

    def decode(self, payloads: dict[str, Received], height: int, width: int) -> np.ndarray:
        result = self.decode_batch([payloads], height, width)[0]
        if isinstance(result, DecodeFailure):
            raise result
        return result

    @abstractmethod
    def decode_batch(self, frames: list[dict[str, Received]], height: int, width: int) -> list[np.ndarray | DecodeFailure]:
        """Several frames of one size through one pass of the networks -> per frame its picture or its DecodeFailure."""


@dataclass(frozen=True)
class SchemeSpec:
    name: str
    help: str
    params: type[SchemeParams]
    transmit: type[Transmit]
    receive: type[Receive]
    payload_names: tuple[str, ...]  # every payload the receiver accepts, to reject strangers
    required_payloads: tuple[str, ...] = ()  # payloads every frame must carry (others may be left out, e.g. unchanged side info)


SCHEMES: dict[str, SchemeSpec] = {}
# every scheme module registers itself when imported; they load on first use, so a process
# that never encodes or decodes (the channel proxy) never pays for torch and models
SCHEME_MODULES = ("shared.schemes.digital", "shared.schemes.deepjscc", "shared.schemes.lrisc",
                  "shared.schemes.spic", "shared.schemes.keyregion", "shared.schemes.full")


def register(spec: SchemeSpec) -> SchemeSpec:
    if spec.name in SCHEMES:
        raise ValueError(f"scheme {spec.name!r} registered twice")
    SCHEMES[spec.name] = spec
    return spec


def _load_schemes() -> None:
    for module in SCHEME_MODULES:
        importlib.import_module(module)


def get_scheme(name: str) -> SchemeSpec:
    _load_schemes()
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown scheme {name!r}; available: {', '.join(sorted(SCHEMES))}") from None


def param_defaults(params: type[BaseModel]) -> list[str]:
    """``key=default`` for every parameter a scheme takes, nested models as dotted keys (``link.modulation=16qam``)."""

    def flat(value, key: str) -> list[str]:
        if isinstance(value, dict):
            return [item for k, v in value.items() for item in flat(v, f"{key}{k}." if isinstance(v, dict) else f"{key}{k}")]
        return [f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"]

    defaults = {name: f.get_default(call_default_factory=True) for name, f in params.model_fields.items()}
    return flat({k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in defaults.items()}, "")


def scheme_names() -> list[str]:
    _load_schemes()
    return sorted(SCHEMES)


def scheme_parameters() -> dict[str, list[str]]:
    """Each registered scheme -> the names of its top-level parameters (for the viewer's controls)."""
    return {name: list(get_scheme(name).params.model_fields) for name in scheme_names()}
