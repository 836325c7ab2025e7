"""Hub segmenter: ESPNetv2 (Mehta et al., CVPR 2019; sacmehta/EdgeNets, MIT), Pascal VOC or Cityscapes classes.

Our own implementation of the published segmentation network, laid out so that the upstream
state dicts (``espnetv2_s_{1.0,2.0}_pascal_384x384.pth``, ``espnetv2_s_2.0_city_1024x512.pth``)
load strictly, after the file's SHA-256 is checked against the one pinned in the registry
(``torch.load(weights_only=True)``).

Encoder (EESPNet without its classifier and last level), width ``w = 32 s``-ish per level::

    level1   CBR 3x3 stride 2 (3 -> c0)                                     1/2
    level2_0 DownSampler (c0 -> c1)   level3_0 DownSampler (c1 -> c2)        1/4, 1/8
    level3   3 x EESP (c2)            level4_0 DownSampler (c2 -> c3)        1/8, 1/16
    level4   7 x EESP (c3)                                                   1/16

An EESP block: grouped 1x1 projection to n = C/4 channels, four depth-wise 3x3 convs with
dilations from the receptive-field limit, hierarchical sums of their outputs, concatenation,
BN + PReLU, grouped 1x1 expansion, residual (stride 1) and PReLU. A DownSampler is a stride-2
EESP beside a 3x3 average pool, concatenated, plus the input image pooled to the same size
through a small CBR + CB ("input reinforcement").

Decoder: an efficient pyramid pool (EPP, five scales 2.0-0.1) at 1/16, then three times
[bilinear x2, + the encoder's features at that scale reweighted (EfficientPWConv), BN + PReLU,
EPP]; the last EPP gives the class logits at 1/2, upsampled to the input size.

Input: RGB in [0, 1], ImageNet mean / std, sides multiples of 32 (the frame is resized to the
configured input size); logits are upsampled bilinearly (align_corners=True) to the frame size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared.hub import PinnedFile
from shared.roles import Segmentation, Segmenter, check_frame

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
                      "bicycle", "background")  # the 19 train ids, then EdgeNets' extra background class
VOCABULARIES = {"voc": VOC_CLASSES, "cityscapes": CITYSCAPES_CLASSES}
BRANCHES = 4  # K: parallel dilated branches in every EESP block, upstream
RECEPTIVE_LIMITS = (13, 11, 9, 7)  # largest effective kernel per level, upstream
DILATION_OF_KERNEL = {3: 1, 5: 2, 7: 3, 9: 4, 11: 5, 13: 6}  # a 3x3 conv with dilation d covers 2d + 1
PYRAMID_SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)  # EPP's resampling scales, upstream
DECODER_BASE = 16  # decoder width unit for VOC and Cityscapes, upstream


@dataclass(frozen=True)
class Espnetv2Config(PinnedFile):
    """The registry row's config: which upstream file, its pinned hash and the network's shape."""

    vocabulary: str = "voc"  # "voc" (21 classes) or "cityscapes" (19 + background)
    scale: float = 2.0  # the network width multiplier s of the file (1.0 or 2.0)
    input_size: tuple[int, int] = (384, 384)  # (height, width) the file was trained at; multiples of 32
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet statistics, as upstream
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)  # idem

    def classes(self) -> tuple[str, ...]:
        return VOCABULARIES[self.vocabulary]


def encoder_widths(scale: float) -> tuple[int, int, int, int]:
    """Channels (c0, c1, c2, c3) of levels 1-4 for width multiplier ``scale`` (EESPNet's rule)."""
    base = 32
    base_s = math.ceil(int(base * scale) / BRANCHES) * BRANCHES
    first = base if base_s > base else base_s
    return first, base_s * 2, base_s * 4, base_s * 8


class CBR(nn.Module):
    """conv (no bias) -> BatchNorm -> PReLU; ``act=False`` leaves the PReLU out (upstream's CB)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.PReLU(c_out) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DepthwiseDilated(nn.Module):
    """Depth-wise 3x3 conv with dilation ``d`` (no bias, no norm)."""

    def __init__(self, c: int, stride: int, d: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride, padding=d, dilation=d, groups=c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class BNPReLU(nn.Module):
    """BatchNorm -> PReLU (upstream's BR in the encoder: attributes ``bn`` and ``act``)."""

    def __init__(self, c: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.PReLU(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class EESP(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H/stride, W/stride): extremely efficient spatial pyramid of dilated convs."""

    def __init__(self, c_in: int, c_out: int, stride: int, receptive_limit: int, downsampling: bool = False):
        super().__init__()
        n = c_out // BRANCHES
        kernels = sorted(k if k <= receptive_limit else 3 for k in (3 + 2 * i for i in range(BRANCHES)))
        self.proj_1x1 = CBR(c_in, n, 1, groups=BRANCHES)
        self.spp_dw = nn.ModuleList(DepthwiseDilated(n, stride, DILATION_OF_KERNEL[k]) for k in kernels)
        self.conv_1x1_exp = CBR(c_out, c_out, 1, groups=BRANCHES, act=False)
        self.br_after_cat = BNPReLU(c_out)
        self.module_act = nn.PReLU(c_out)
        self.downsampling = downsampling  # inside a DownSampler: no residual, no final activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.proj_1x1(x)  # (B, n, H, W)
        branches = [self.spp_dw[0](projected)]
        for conv in self.spp_dw[1:]:
            branches.append(conv(projected) + branches[-1])  # hierarchical feature fusion: no gridding artefacts
        out = self.conv_1x1_exp(self.br_after_cat(torch.cat(branches, 1)))  # (B, C_out, H/s, W/s)
        if self.downsampling:
            return out
        if out.shape == x.shape:
            out = out + x
        return self.module_act(out)


class DownSampler(nn.Module):
    """(B, C_in, H, W) + image (B, 3, H0, W0) -> (B, C_out, H/2, W/2): strided EESP ‖ avg pool, + the pooled image."""

    def __init__(self, c_in: int, c_out: int, receptive_limit: int):
        super().__init__()
        self.eesp = EESP(c_in, c_out - c_in, 2, receptive_limit, downsampling=True)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1)
        self.inp_reinf = nn.Sequential(CBR(3, 3, 3), CBR(3, c_out, 1, act=False))
        self.act = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        pooled = self.avg(x)  # (B, C_in, H/2, W/2)
        out = torch.cat([pooled, self.eesp(x)], 1)  # (B, C_out, H/2, W/2)
        while image.shape[2] > pooled.shape[2]:
            image = F.avg_pool2d(image, 3, stride=2, padding=1)  # the image at this level's size
        return self.act(out + self.inp_reinf(image))


class EESPNetEncoder(nn.Module):
    """(B, 3, H, W) -> features at 1/2, 1/4, 1/8, 1/16 (the ``base_net`` of the upstream state dict)."""

    def __init__(self, scale: float):
        super().__init__()
        c0, c1, c2, c3 = encoder_widths(scale)
        self.level1 = CBR(3, c0, 3, stride=2)
        self.level2_0 = DownSampler(c0, c1, RECEPTIVE_LIMITS[0])
        self.level3_0 = DownSampler(c1, c2, RECEPTIVE_LIMITS[1])
        self.level3 = nn.ModuleList(EESP(c2, c2, 1, RECEPTIVE_LIMITS[2]) for _ in range(3))
        self.level4_0 = DownSampler(c2, c3, RECEPTIVE_LIMITS[2])
        self.level4 = nn.ModuleList(EESP(c3, c3, 1, RECEPTIVE_LIMITS[3]) for _ in range(7))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        l1 = self.level1(x)  # (B, c0, H/2, W/2)
        l2 = self.level2_0(l1, x)  # (B, c1, H/4, W/4)
        l3 = self.level3_0(l2, x)  # (B, c2, H/8, W/8)
        for block in self.level3:
            l3 = block(l3)
        l4 = self.level4_0(l3, x)  # (B, c3, H/16, W/16)
        for block in self.level4:
            l4 = block(l4)
        return l1, l2, l3, l4


class SeqCBR(nn.Module):
    """The decoder's conv -> BN -> PReLU, stored as ``cbr.0/1/2`` upstream."""

    def __init__(self, c_in: int, c_out: int, k: int, groups: int = 1):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False, groups=groups),
                                 nn.BatchNorm2d(c_out), nn.PReLU(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cbr(x)


class SeqBR(nn.Module):
    """The decoder's BN -> PReLU, stored as ``br.0/1`` upstream."""

    def __init__(self, c: int):
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(c), nn.PReLU(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.br(x)


class ChannelShuffle(nn.Module):
    """(B, g * c, H, W) -> the same channels interleaved group by group."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PyramidPool(nn.Module):
    """Efficient pyramid pooling: (B, C_in, H, W) -> (B, C_out, H, W) from depth-wise convs at five scales."""

    def __init__(self, c_in: int, c_proj: int, c_out: int, last: bool = False):
        super().__init__()
        n = len(PYRAMID_SCALES)
        self.projection_layer = SeqCBR(c_in, c_proj, 1)
        self.stages = nn.ModuleList(nn.Conv2d(c_proj, c_proj, 3, padding=1, bias=False, groups=c_proj) for _ in range(n))
        self.merge_layer = nn.Sequential(SeqBR(c_proj * n), ChannelShuffle(n), SeqCBR(c_proj * n, c_proj, 3, groups=c_proj),
                                         nn.Conv2d(c_proj, c_out, 1, bias=last))
        self.br = None if last else SeqBR(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection_layer(x)  # (B, P, H, W)
        h, w = x.shape[2:]
        levels = []
        for scale, conv in zip(PYRAMID_SCALES, self.stages):
            size = (max(5, math.ceil(h * scale)), max(5, math.ceil(w * scale)))
            if scale < 1:
                y = F.interpolate(conv(F.adaptive_avg_pool2d(x, size)), (h, w), mode="bilinear", align_corners=True)
            elif scale > 1:
                y = F.adaptive_avg_pool2d(conv(F.interpolate(x, size, mode="bilinear", align_corners=True)), (h, w))
            else:
                y = conv(x)
            levels.append(y)  # (B, P, H, W)
        out = self.merge_layer(torch.cat(levels, 1))  # (B, C_out, H, W)
        return out if self.br is None else self.br(out)


class ReweightedProjection(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W): grouped 3x3 CBR gated by a global-context sigmoid (EfficientPWConv)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.wt_layer = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c_in, c_out, 1, bias=False), nn.Sigmoid())
        self.expansion_layer = SeqCBR(c_in, c_out, 3, groups=math.gcd(c_in, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expansion_layer(x) * self.wt_layer(x)


class Espnetv2Net(nn.Module):
    """(B, 3, H, W) normalised, sides multiples of 32 -> (B, classes, H, W) logits."""

    def __init__(self, scale: float, classes: int):
        super().__init__()
        c0, c1, c2, c3 = encoder_widths(scale)
        d = (4 * DECODER_BASE, 3 * DECODER_BASE, 2 * DECODER_BASE)
        proj = min(classes // 2, DECODER_BASE)
        self.base_net = EESPNetEncoder(scale)
        self.bu_dec_l1 = PyramidPool(c3, proj, d[0])
        self.bu_dec_l2 = PyramidPool(d[0], proj, d[1])
        self.bu_dec_l3 = PyramidPool(d[1], proj, d[2])
        self.bu_dec_l4 = PyramidPool(d[2], proj, classes, last=True)
        self.merge_enc_dec_l2 = ReweightedProjection(c2, d[0])
        self.merge_enc_dec_l3 = ReweightedProjection(c1, d[1])
        self.merge_enc_dec_l4 = ReweightedProjection(c0, d[2])
        self.bu_br_l2 = nn.Sequential(nn.BatchNorm2d(d[0]), nn.PReLU(d[0]))
        self.bu_br_l3 = nn.Sequential(nn.BatchNorm2d(d[1]), nn.PReLU(d[1]))
        self.bu_br_l4 = nn.Sequential(nn.BatchNorm2d(d[2]), nn.PReLU(d[2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l1, l2, l3, l4 = self.base_net(x)
        out = self.bu_dec_l1(l4)  # (B, 64, H/16, W/16)
        for skip, merge, norm, decode in ((l3, self.merge_enc_dec_l2, self.bu_br_l2, self.bu_dec_l2),
                                          (l2, self.merge_enc_dec_l3, self.bu_br_l3, self.bu_dec_l3),
                                          (l1, self.merge_enc_dec_l4, self.bu_br_l4, self.bu_dec_l4)):
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)
            out = decode(norm(out + merge(skip)))  # 1/8: 48 ch, 1/4: 32 ch, 1/2: classes
        return F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=True)  # (B, classes, H, W)


class Espnetv2Segmenter(Segmenter):
    """frame -> per-pixel argmax of ESPNetv2's logits at the frame size (a fixed vocabulary: no class names sent)."""

    def __init__(self, net: Espnetv2Net, config: Espnetv2Config):
        self.net = net.eval().requires_grad_(False)
        self.config = config
        self.class_names = config.classes()

    @classmethod
    def load(cls, name: str, config: Espnetv2Config, source: str | None) -> "Espnetv2Segmenter":
        """``source``: a hub id (``sacmehta/espnetv2``) or a folder holding ``config.weights_file``."""
        path = config.checked_path(name, source)
        net = Espnetv2Net(config.scale, len(config.classes()))
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(net, config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @torch.no_grad()
    def logits(self, frame: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 RGB -> (classes, H, W) float32 logits."""
        check_frame(frame)
        h, w = frame.shape[:2]
        cfg = self.config
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
        x = F.interpolate(x, size=cfg.input_size, mode="bilinear", antialias=True, align_corners=False)
        x = (x - torch.tensor(cfg.mean).view(1, 3, 1, 1)) / torch.tensor(cfg.std).view(1, 3, 1, 1)
        logits = self.net(x)  # (1, classes, h_in, w_in)
        return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=True)[0]  # (classes, H, W)

    def segment(self, frame: np.ndarray) -> Segmentation:
        labels = self.logits(frame).argmax(0).numpy().astype(np.uint8)  # (H, W)
        return Segmentation(labels=labels, class_names=self.class_names, vocabulary=self.config.vocabulary)
