"""The receiver's decoding as a Ray Serve deployment (the scale-out issue).

The ZeroMQ receiver stays the network edge: it validates each message and
equalises its symbols, then hands the equalised payloads to ``Decoder``
replicas and restores each stream's frame order (:mod:`receiver.decoding`).
A replica holds one :class:`~shared.pipeline.FrameDecoder`; ``@serve.batch``
gathers the requests that arrive within ``batch_wait_ms`` (up to
``max_batch``), and frames that share a decoder and a size go through the
network together (``Receive.decode_batch``), whichever streams they come from.

Routing: a stateless scheme's frames go to any replica (Serve's power of two
choices). A scheme that holds state between frames (the semantic schemes keep
the last map and caption) is routed by stream with Serve's model multiplexing
(``multiplexed_model_id`` = the stream id), so a stream's state lives on one
replica; a replica that dies takes that state with it, as a restarted receiver
would, until the transmitter sends the part again.

What crosses the Ray hop is plain data: the header as JSON-able dict, numpy
arrays, and back a picture and timestamps. Ray itself moves it with its own
serialisation between processes of one cluster, which must be private (the
README's scale-out section); nothing from the ZeroMQ wire is ever unpickled.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from shared.config import RayDecodeConfig
from shared.pipeline import FrameDecoder
from shared.protocol import Header, ProtocolError
from shared.schemes.base import DecodeFailure, Received

APP_NAME = "semcom-decoder"  # the Serve application (one per cluster: receiver fronts share its replicas)
DEPLOYMENT_NAME = "Decoder"


@dataclass
class Decoded:
    """What came of one frame: its picture, or why there is none, and where the time went."""

    frame: np.ndarray | None  # (H, W, 3) uint8
    failure: str | None = None  # DecodeFailure: the frame is lost (the last good one is shown)
    refused: tuple[str, str] | None = None  # ProtocolError (reason, message): the message is dropped
    hops: dict[str, float] | None = None  # ray_start, ray_decoded (wall clock, on the replica)
    batch: int = 1  # frames in the replica's batch
    replica: str = "receiver"  # which process decoded it (a Ray replica: node:pid)


def as_decoded(result, **facts) -> Decoded:
    """A FrameDecoder.reconstruct_batch result (a frame, a ProtocolError or a DecodeFailure) -> Decoded with ``facts``."""
    if isinstance(result, ProtocolError):
        return Decoded(None, refused=(result.reason, str(result)), **facts)
    if isinstance(result, DecodeFailure):
        return Decoded(None, failure=str(result), **facts)
    return Decoded(result, **facts)


def to_request(header: Header, received: dict[str, Received]) -> dict:
    """One frame for a replica: the validated header and the equalised payloads, as plain data."""
    return {"header": header.model_dump(mode="json"),
            "payloads": {name: (rx.symbols, rx.noise_var) for name, rx in received.items()}}


class DecoderReplica:
    """One replica's work (Ray-free: :func:`deployment` makes it a Serve deployment)."""

    def __init__(self, threads: int = 1, max_streams: int = 16):
        torch.set_num_threads(threads)
        self.decoder = FrameDecoder(max_streams)
        self.name = f"{os.uname().nodename}:{os.getpid()}"

    def prepare(self, header: dict) -> str | None:
        """Build and warm the decoder a probe announces -> None, or why this replica cannot serve it."""
        try:
            self.decoder.prepare(Header.model_validate(header))
        except ProtocolError as exc:
            return str(exc)
        return None

    def decode_many(self, requests: list[dict]) -> list[Decoded]:
        """A batch of frames (possibly of several streams) -> one Decoded each, in order."""
        start = time.time()
        items = [(Header.model_validate(r["header"]), {n: Received(s, v) for n, (s, v) in r["payloads"].items()})
                 for r in requests]
        results = self.decoder.reconstruct_batch(items)
        done = time.time()
        return [as_decoded(result, hops={"ray_start": start, "ray_decoded": done}, batch=len(items), replica=self.name)
                for result in results]


def deployment(cfg: RayDecodeConfig, gpus: float):
    """The Serve deployment of :class:`DecoderReplica` for ``cfg`` (imports Ray: call only where it is wanted)."""
    from ray import serve

    class Decoder(DecoderReplica):
        def __init__(self, threads: int, max_streams: int, max_batch: int, batch_wait_s: float):
            super().__init__(threads, max_streams)
            self.decode.set_max_batch_size(max_batch)
            self.decode.set_batch_wait_timeout_s(batch_wait_s)

        @serve.multiplexed(max_num_models_per_replica=cfg.max_streams)
        async def stream(self, stream_id: str) -> str:
            """Serve's record that this replica holds ``stream_id``'s state (the FrameDecoder keeps the state)."""
            return stream_id

        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)  # set from the config in __init__
        async def decode(self, requests: list[dict]) -> list[Decoded]:
            stream_id = serve.get_multiplexed_model_id()  # "" for stateless schemes; a batch never mixes two
            if stream_id:
                await self.stream(stream_id)
            return await asyncio.get_running_loop().run_in_executor(None, self.decode_many, requests)

        async def check(self, header: dict) -> str | None:
            return await asyncio.get_running_loop().run_in_executor(None, self.prepare, header)

    scaling: dict = {"num_replicas": cfg.replicas}
    if cfg.max_replicas > cfg.replicas:
        scaling = {"autoscaling_config": {"min_replicas": cfg.replicas, "max_replicas": cfg.max_replicas,
                                          "target_ongoing_requests": cfg.target_ongoing}}
    return serve.deployment(
        name=DEPLOYMENT_NAME, ray_actor_options={"num_cpus": cfg.cpus, "num_gpus": gpus},
        max_ongoing_requests=max(2 * cfg.max_batch, 4), **scaling,
    )(Decoder).bind(cfg.threads, cfg.max_streams, cfg.max_batch, cfg.batch_wait_ms / 1000)
