"""The four model roles of the transmitter, as small typed interfaces.

Service code talks to these base classes only; it never knows whether it got
a hub backend (a real pretrained model loaded with ``from_pretrained``) or an
embedded one (shipped in ``shared/weights`` or needing no weights at all).

Frame convention everywhere: a frame is a ``numpy.ndarray`` of shape
``(H, W, 3)``, dtype ``uint8``, RGB.

| role          | input                         | output                         |
| ------------- | ----------------------------- | ------------------------------ |
| segmenter     | frame (H, W, 3) uint8         | :class:`Segmentation`          |
| key regions   | frame + :class:`Segmentation` | key mask (H, W) bool           |
| captioner     | frame (H, W, 3) uint8         | caption ``str``                |
| latent codec  | frame (H, W, 3) uint8         | latent (C, H/f, W/f) float32   |
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate the frame convention; return the frame unchanged.

    Raises:
        ValueError: if ``frame`` is not a (H, W, 3) uint8 array.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{type(frame).__name__} {getattr(frame, 'shape', '')} {getattr(frame, 'dtype', '')}"
        raise ValueError(f"expected a frame of shape (H, W, 3) and dtype uint8 (RGB), got {got}")
    return frame


@dataclass(frozen=True)
class Segmentation:
    """A label map and the meaning of each label.

    Attributes:
        labels: (H, W) integer map (uint8 when fewer than 256 labels, else uint16).
        class_names: ``class_names[i]`` names label ``i``.
        descriptors: optional per-label text (e.g. "blue, top-left"), for region
            maps whose labels have no fixed vocabulary.
        vocabulary: the name of a fixed label set the receiver already knows
            (e.g. "ade20k"); ``None`` when the class names must be sent.
    """

    labels: np.ndarray
    class_names: tuple[str, ...]
    descriptors: tuple[str, ...] = field(default=())
    vocabulary: str | None = None

    def present(self) -> list[int]:
        """Label ids that occur in the map, ascending."""
        return [int(v) for v in np.unique(self.labels)]


class Model(ABC):
    """Common base: every model knows its role and how many parameters it has."""

    role: str = ""

    @classmethod
    def load(cls, name: str, config: Any, source: str | None) -> "Model":
        """Build from a registry row: ``config`` is the row's config, ``source`` its weights.

        The default suits backends without weights; weighted backends override it.
        """
        return cls(config)

    def num_parameters(self) -> int:
        """Number of learnable parameters (0 for classical, weight-free backends)."""
        return 0


class Segmenter(Model):
    """frame -> label map + class names."""

    role = "segmenter"

    @abstractmethod
    def segment(self, frame: np.ndarray) -> Segmentation:
        """Segment a (H, W, 3) uint8 RGB frame into a (H, W) label map."""


class KeyRegionSelector(Model):
    """frame + label map -> key mask (the regions worth spending bits on)."""

    role = "key_regions"
    reads_segmentation = False  # True: select() uses the segmenter's classes, so the scheme runs one even without a map

    @abstractmethod
    def select(self, frame: np.ndarray, segmentation: Segmentation | None = None) -> np.ndarray:
        """Return a (H, W) bool mask, True on key regions (people, faces, salient objects)."""


class Captioner(Model):
    """frame (or a region of it) -> text."""

    role = "captioner"

    @abstractmethod
    def caption(self, frame: np.ndarray) -> str:
        """Describe a (H, W, 3) uint8 RGB frame in one line of text."""


class LatentCodec(Model):
    """image <-> latent; ``downsample`` is the spatial factor f.

    The tensor methods are the batch interface used by training and schemes;
    :meth:`encode` / :meth:`decode` are the frame convenience wrappers.
    """

    role = "latent_codec"
    downsample: int = 8
    latent_channels: int = 4

    @abstractmethod
    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float in [0, 1], H and W multiples of f -> (B, C, H/f, W/f)."""

    @abstractmethod
    def decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 3, h*f, w*f) float in [0, 1] (clamped)."""

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> (C, ceil(H/f), ceil(W/f)) float32; edges are padded by replication."""
        check_frame(frame)
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
        f = self.downsample
        ph, pw = (-frame.shape[0]) % f, (-frame.shape[1]) % f
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.encode_tensor(x)[0].float()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, size: tuple[int, int] | None = None) -> np.ndarray:
        """(C, h, w) -> (H, W, 3) uint8, cropped to ``size`` = (H, W) when given."""
        if latent.ndim != 3 or latent.shape[0] != self.latent_channels:
            raise ValueError(f"expected a latent of shape ({self.latent_channels}, h, w), got {tuple(latent.shape)}")
        y = self.decode_tensor(latent[None].float())[0]  # (3, H', W')
        if size is not None:
            y = y[:, : size[0], : size[1]]
        return (y.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
