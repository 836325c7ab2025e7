"""Embedded segmenter: a colour/position region map, not semantic classes.

What it is, honestly: SLIC superpixels (Achanta et al. 2012) grouped by
k-means on their mean CIELAB colour and centroid into at most ``regions``
regions. Labels carry no object class; each region is named by its dominant
colour, and its descriptor adds position and area ("navy, bottom centre, 31%").
It needs no weights, runs in ~20 ms at 256x256 and gives a map with few
labels on a grid of 2x2-pixel cells, which codes to few bits.
A semantic map comes from the hub backend (SegFormer, :mod:`segment_segformer`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import rgb2lab
from skimage.segmentation import slic

from shared.extractors.colours import colour_names, position_name
from shared.roles import Segmentation, Segmenter, check_frame
from shared.sideinfo.maps import upsample


@dataclass(frozen=True)
class RegionConfig:
    regions: int = 8  # at most this many labels: a map of 8 labels codes to ~0.01-0.03 bpp
    superpixels: int = 150  # SLIC seeds: fine enough to follow object boundaries at 256 px
    compactness: float = 10.0  # SLIC's colour/space trade-off; 10 is its usual default for Lab
    position_weight: float = 30.0  # Lab units per image height in k-means: keeps regions spatially coherent
    grid: int = 2  # labels live on a grid 2x coarser than the frame: ~4x fewer map bits, 4x faster SLIC
    work_size: int = 192  # and on at most this many cells a side: bounds the time for large frames
    seed: int = 0  # k-means initialisation: deterministic maps for identical frames


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 20) -> np.ndarray:
    """Cluster (N, D) points into at most ``k`` groups; return (N,) int labels (k-means++ init)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    k = min(k, n)
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        d = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)  # (N,)
        if d.sum() <= 0:
            break
        centres.append(x[rng.choice(n, p=d / d.sum())])
    c = np.array(centres)  # (k, D)
    labels = np.zeros(n, np.int64)
    for _ in range(iters):
        labels = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)  # (N,)
        new = np.array([x[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(len(c))])
        if np.allclose(new, c):
            break
        c = new
    return labels


class RegionSegmenter(Segmenter):
    """SLIC superpixels + k-means -> a (H, W) uint8 region map with colour-named regions."""

    def __init__(self, config: RegionConfig = RegionConfig()):
        self.config = config

    def segment(self, frame: np.ndarray) -> Segmentation:
        check_frame(frame)
        cfg = self.config
        h, w = frame.shape[:2]
        f = max(cfg.grid, -(-max(h, w) // cfg.work_size))  # integer block factor
        small = cv2.resize(frame, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA) if f > 1 else frame
        sh, sw = small.shape[:2]
        sp = slic(small, n_segments=cfg.superpixels, compactness=cfg.compactness, start_label=0,
                  convert2lab=True, enforce_connectivity=True)  # (sh, sw) superpixel ids
        n_sp = int(sp.max()) + 1
        lab = rgb2lab(small).reshape(-1, 3)  # (sh*sw, 3)
        yy, xx = np.mgrid[0:sh, 0:sw]
        flat = sp.ravel()
        counts = np.bincount(flat, minlength=n_sp).astype(np.float64)  # (n_sp,)
        mean_lab = np.stack([np.bincount(flat, lab[:, c], n_sp) for c in range(3)], 1) / counts[:, None]
        cy = np.bincount(flat, yy.ravel(), n_sp) / counts / sh
        cx = np.bincount(flat, xx.ravel(), n_sp) / counts / sw
        feats = np.concatenate([mean_lab, cfg.position_weight * np.stack([cy, cx], 1)], 1)  # (n_sp, 5)
        groups = kmeans(feats, cfg.regions, cfg.seed)  # (n_sp,)
        # relabel by decreasing area, so the largest region is label 0 (deterministic, codes well)
        area = np.bincount(groups, weights=counts, minlength=groups.max() + 1)
        order = np.argsort(-area, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        present = area[order] > 0
        labels_small = rank[groups][sp].astype(np.uint8)  # (sh, sw)
        labels = upsample(labels_small, f, h, w)  # (H, W): exact f x f blocks, which the map coder exploits
        n_lab = int(present.sum())
        mean_rgb = np.stack([np.bincount(labels_small.ravel(), small.reshape(-1, 3)[:, c], n_lab)
                             for c in range(3)], 1) / np.maximum(np.bincount(labels_small.ravel(), minlength=n_lab), 1)[:, None]
        names = colour_names(mean_rgb)
        descriptors = []
        for j in range(n_lab):
            m = labels_small == j
            ys, xs = np.nonzero(m)
            descriptors.append(f"{names[j]}, {position_name(ys.mean() / sh, xs.mean() / sw)}, {100 * m.mean():.0f}%")
        return Segmentation(labels=np.ascontiguousarray(labels), class_names=tuple(names),
                            descriptors=tuple(descriptors), vocabulary=None)
