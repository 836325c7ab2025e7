"""Settings of every service, validated by pydantic; one reason per default."""
from __future__ import annotations

from typing import Annotated, Literal

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
    extra_reference_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default=[], max_length=256)  # more transmitters' taps (several streams)


class TransportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hwm: int = Field(default=2, ge=1, le=1000)  # image-sized messages: a slow receiver pushes back fast
    limits: Limits = Limits()


RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray's node address is 127.0.0.1: its servers bind nothing else


class RayDecodeConfig(BaseModel):
    """How the receiver front uses Ray Serve; ``semcom receiver --ray ...`` fills it."""

    address: str = "auto"  # the Ray cluster: "auto" (one running on this machine), "local" (start one in process), host:port
    replicas: int = Field(default=1, ge=1, le=256)  # decoder replicas (the autoscaler's minimum when max_replicas is larger)
    max_replicas: int = Field(default=0, ge=0, le=256)  # > replicas: Serve adds replicas with load up to this; 0 = fixed
    target_ongoing: float = Field(default=4.0, gt=0, le=1000)  # autoscaling target: requests in flight per replica
    max_batch: int = Field(default=8, ge=1, le=256)  # frames one replica decodes together (8 streams' worth)
    batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)  # how long a replica waits to fill a batch (a frame's cost)
    cpus: float = Field(default=1.0, gt=0, le=256)  # CPUs each replica reserves
    gpus: float = Field(default=-1.0, ge=-1, le=16)  # GPUs each replica reserves; -1: one where the cluster has any, else 0
    threads: int = Field(default=1, ge=1, le=256)  # torch threads in each replica
    max_streams: int = Field(default=16, ge=1, le=10_000)  # per-stream decoder state a replica keeps (LRU)
    in_flight: int = Field(default=32, ge=1, le=4096)  # frames the front has at the replicas at once (then it waits)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)  # a frame not back in this long is lost (replica gone)
