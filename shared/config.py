"""Settings of every service, validated by pydantic; one reason per default."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.protocol import Limits


class ChannelConfig(BaseModel):
    """What the channel proxy does to each frame."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["awgn", "rayleigh", "rician"] = "awgn"  # the reference channel of every paper
    snr_db: float = Field(default=10.0, ge=-30, le=60)  # mid-range: digital works, analog is noisy
    snr_schedule: str = "const"  # see shared.channel.snr: const | list:.. | trace:PATH | gm:M,S,R
    rician_k: float = Field(default=3.0, ge=0)  # a moderate line-of-sight share (3GPP uses 3-9 dB)
    block_len: int = Field(default=0, ge=0)  # symbols per coherence block; 0 = one gain per frame
    csi_error_var: float = Field(default=0.0, ge=0)  # 0 = perfect CSI at the receiver
    erasure: float = Field(default=0.0, ge=0, le=1)  # probability that a whole frame is lost
    delay_ms: float = Field(default=0.0, ge=0, le=60_000)  # fixed one-way propagation delay
    jitter_ms: float = Field(default=0.0, ge=0, le=60_000)  # uniform +-jitter around the delay, as netem
    symbol_rate: float = Field(default=0.0, ge=0)  # complex symbols per second on air; 0 = unlimited
    seed: int = Field(default=0, ge=0)  # every draw derives from (seed, frame seq)


class Endpoints(BaseModel):
    """Where the services meet. The proxy binds both its ports (it is the stable
    middle); the transmitter binds the reference tap; the receiver binds feedback."""

    model_config = ConfigDict(extra="forbid")

    bind_host: str = "127.0.0.1"  # localhost unless told otherwise
    proxy_host: str = "127.0.0.1"  # where the proxy runs, as seen by tx and rx
    transmitter_host: str = "127.0.0.1"  # where the transmitter's reference tap runs
    receiver_host: str = "127.0.0.1"  # where the receiver's feedback socket runs
    proxy_in_port: int = Field(default=5555, ge=1, le=65535)  # tx -> proxy
    proxy_out_port: int = Field(default=5556, ge=1, le=65535)  # proxy -> rx
    feedback_port: int = Field(default=5557, ge=1, le=65535)  # rx -> tx: acks, SNR feedback
    reference_port: int = Field(default=5558, ge=1, le=65535)  # tx -> rx: originals, for measurement only


class TransportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hwm: int = Field(default=2, ge=1, le=1000)  # image-sized messages: a slow receiver pushes back fast
    limits: Limits = Limits()
