"""Metrics of whether a dream stays a world, as its users see it, beside per-pixel accuracy (``metrics.py``).

PSNR is highest for the blurred mean of the possible futures, so a dream tuned for it dissolves into mush while its
numbers look fine. These measure the distribution of what a dream shows against the real world's, on frames of
any pixel world:
- ``sharpness``: mean absolute difference of neighbouring pixels (a blur lowers it, texture soup raises it);
- ``colour_js``: the Jensen-Shannon divergence (bits) between the pooled colour histograms of two sets of frames;
- ``frechet_distance``: between Gaussian fits of feature vectors (FID's formula; the features come from a network
  trained on real frames, the inverse-dynamics model's frame encoder, ``models/idm.py``);
and, for the voxel world, whose renderer knows what every pixel shows:
- ``colour_classes``: each pixel's block class by the nearest colour the renderer can draw for it (shaded faces,
  fog, water over a bed, sky; the blocks terrain makes), to be compared with ``VoxelEnv.block_classes()``;
- ``persistence``: in the pixels a change (a broken or placed block) altered, is a dream nearer the world with
  the change than the world without it.
"""

from __future__ import annotations

import warnings

import numpy as np


def sharpness(frames: np.ndarray) -> float:
    """Mean absolute difference of horizontally and vertically neighbouring pixels of uint8 frames (..., H, W, 3)."""
    x = np.asarray(frames, dtype=np.float32)
    return float((np.abs(np.diff(x, axis=-2)).mean() + np.abs(np.diff(x, axis=-3)).mean()) / 2)


def colour_histogram(frames: np.ndarray, levels: int = 8) -> np.ndarray:
    """Normalised histogram of the frames' colours quantised to ``levels`` per channel (levels**3 bins)."""
    q = (np.asarray(frames, dtype=np.uint16).reshape(-1, 3) * levels) // 256
    idx = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]
    h = np.bincount(idx, minlength=levels**3).astype(np.float64)
    return h / max(h.sum(), 1.0)


def colour_js(a: np.ndarray, b: np.ndarray, levels: int = 8) -> float:
    """Jensen-Shannon divergence in bits (0 same colours, 1 disjoint) of two sets of frames' colour histograms."""
    return js_bits(colour_histogram(a, levels), colour_histogram(b, levels))


def js_bits(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits of two normalised histograms."""
    m = (p + q) / 2

    def kl(x, y):
        nz = x > 0
        return float((x[nz] * np.log2(x[nz] / y[nz])).sum())

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


def frechet_distance(fa: np.ndarray, fb: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to feature sets (N, D) and (M, D), as FID computes it."""
    from scipy import linalg

    fa, fb = np.asarray(fa, np.float64), np.asarray(fb, np.float64)
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    ca, cb = np.atleast_2d(ca), np.atleast_2d(cb)
    with warnings.catch_warnings():  # few samples for the width: singular covariances are expected
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(ca @ cb)
        if not np.isfinite(covmean).all():  # regularise, as FID implementations do
            off = np.eye(len(ca)) * eps
            covmean = linalg.sqrtm((ca + off) @ (cb + off))
    covmean = covmean.real
    return float(max(0.0, ((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean)))


# ----------------------------------------------------------------------------------------- voxel world colours
def _voxel_palette() -> tuple[np.ndarray, np.ndarray]:
    """(colours (K, 3), classes (K,)) the voxel renderer can draw: every block's faces at every shade, faded
    by fog, water over every bed, and the sky's gradient."""
    from worldsim.envs.voxel import blocks
    from worldsim.envs.voxel.render import FACE_SHADE, SKY_HORIZON, SKY_ZENITH, WATER_COLOR

    colours, classes = [], []
    fogs = [0.0, 0.1, 0.25, 0.45, 0.7]
    for b in range(1, blocks.NUM_BLOCKS):
        if b == blocks.PLANKS:  # no terrain has planks (they cannot even be placed: only broken blocks are held)
            continue
        faces = {tuple(blocks.SIDE_COLORS[b]), tuple(blocks.TOP_COLORS[b])}
        if b == blocks.GRASS:  # a grass block's sides show dirt's brown (class DIRT); its top and fringe green
            faces = {tuple(blocks.TOP_COLORS[b])}
        for base in faces:
            for shade in set(FACE_SHADE.tolist()):
                c = np.asarray(base) * shade
                for fog in fogs:
                    colours.append(c + (SKY_HORIZON - c) * fog * fog)
                    classes.append(b)
                if b != blocks.WATER:  # seen through water: the water's colour over this bed
                    for a in (0.54, 0.72, 0.92):
                        colours.append(c + (WATER_COLOR - c) * a)
                        classes.append(blocks.WATER)
    for s in np.linspace(0, 1, 6):
        colours.append(SKY_HORIZON + (SKY_ZENITH - SKY_HORIZON) * s)
        classes.append(0)
    return np.asarray(colours, np.float32), np.asarray(classes, np.uint8)


_PALETTE = None  # (KD-tree of the palette's colours, their classes), built on first use


def box_blur(frames: np.ndarray) -> np.ndarray:
    """uint8 frames (..., H, W, 3) under a 5x5 box blur (edges repeated): the report's blurred real rollout."""
    from scipy.ndimage import uniform_filter

    x = frames.astype(np.float32)
    return uniform_filter(x, size=(1,) * (x.ndim - 3) + (5, 5, 1), mode="nearest").round().astype(np.uint8)


def colour_classes(frames: np.ndarray) -> np.ndarray:
    """The voxel block class (0 sky, else a block id as ``VoxelEnv.block_classes``) of every pixel of uint8 frames
    (..., H, W, 3), by the nearest colour the renderer draws for it."""
    global _PALETTE
    if _PALETTE is None:
        from scipy.spatial import cKDTree

        colours, classes = _voxel_palette()
        _PALETTE = (cKDTree(colours), classes)
    tree, classes = _PALETTE
    _, nearest = tree.query(np.asarray(frames, np.float32).reshape(-1, 3))
    return classes[nearest].reshape(np.shape(frames)[:-1])


def class_agreement(frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per frame, the share of pixels whose colour class is the ground-truth class (frames (N, H, W, 3), truth
    (N, H, W))."""
    return (colour_classes(frames) == truth).reshape(len(truth), -1).mean(1)


def persistence(dream: np.ndarray, with_change: np.ndarray, without_change: np.ndarray) -> float | None:
    """Share of the pixels where the world with a change and the world without it differ (by more than 24 levels)
    in which the dream is nearer the world with the change: 1 the change persists, 0 it was forgotten, ~0.5 the
    dream is unrelated to both. None where the change shows in no pixel. Frames (H, W, 3) uint8."""
    w, wo, d = (np.asarray(x, np.float32) for x in (with_change, without_change, dream))
    region = np.abs(w - wo).sum(-1) > 24
    if not region.any():
        return None
    near_with = np.abs(d - w).sum(-1) < np.abs(d - wo).sum(-1)
    return float(near_with[region].mean())
