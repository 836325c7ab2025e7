"""The metrics' image convention, and the one conversion into it.

Every metric takes a pair of float tensors (B, 3, H, W) with values in [0, 1], on any device; the
result is a per-image tensor (B,) on the same device. `to_tensor_batch` turns the uint8 HxWx3
arrays that OpenCV/scikit-image produce into that convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def to_tensor_batch(images: np.ndarray | Sequence[np.ndarray] | torch.Tensor,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Convert images to a float32 batch (B, 3, H, W) in [0, 1].

    Accepts:
      - a uint8 RGB array (H, W, 3) -> B = 1;
      - a uint8 array (B, H, W, 3), or a sequence of same-size uint8 (H, W, 3) arrays;
      - a float tensor (B, 3, H, W), returned as float32 (values are not rescaled or checked).
    Arrays are taken as RGB; OpenCV frames are BGR and must be flipped by the caller.
    `device` defaults to the CPU for arrays and to the tensor's own device for tensors.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(f"expected a float tensor (B, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        return images.to(device=device if device is not None else images.device, dtype=torch.float32)
    array = np.stack(images) if isinstance(images, Sequence) else images
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise ValueError(f"expected uint8 image arrays, got {getattr(array, 'dtype', type(array))}")
    if array.ndim == 3:
        array = array[None]  # (1, H, W, 3)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected uint8 arrays (H, W, 3) or (B, H, W, 3), got shape {array.shape}")
    batch = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)  # (B, 3, H, W)
    return batch.to(device=device or "cpu", dtype=torch.float32) / 255.0


def check_image_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ValueError unless x and y are same-shape float tensors (B, C, H, W) on one device."""
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise ValueError("images must be torch tensors (B, C, H, W); use to_tensor_batch for arrays")
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(f"expected two tensors of one shape (B, C, H, W), got {tuple(x.shape)} and {tuple(y.shape)}")
    if not (x.is_floating_point() and y.is_floating_point()):
        raise ValueError(f"expected float images in [0, 1], got {x.dtype} and {y.dtype}")
    if x.device != y.device:
        raise ValueError(f"images are on different devices: {x.device} and {y.device}")


def check_rgb_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    """`check_image_pair`, and C must be 3 (RGB), as the pretrained networks require."""
    check_image_pair(x, y)
    if x.shape[1] != 3:
        raise ValueError(f"expected RGB images (B, 3, H, W), got {x.shape[1]} channels")
