"""Image fidelity metrics on uint8 frames: PSNR and SSIM (scikit-image's, on RGB)."""

from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB of uint8 frames (..., H, W, 3); identical frames give 100 dB (a cap, not infinity)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    mse = ((a - b) ** 2).mean(axis=(-3, -2, -1))
    return np.where(mse > 0, 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-12)), 100.0)


def best_shift(src: np.ndarray, target: np.ndarray, max_shift: int) -> np.ndarray:
    """Each frame of ``src`` (N, H, W, 3) moved by the whole-pixel shift (|dy|, |dx| <= ``max_shift``, edges
    repeated) that brings it closest to the same frame of ``target`` in squared error. The shift is picked against
    the target itself, so this is an oracle: the best that moving the whole picture can do, with no parallax and
    no newly seen content."""
    src, target = np.asarray(src), np.asarray(target)
    if src.shape != target.shape or src.ndim != 4:
        raise ValueError(
            f"best_shift: expected two (N, H, W, C) arrays of one shape, got {src.shape} and {target.shape}"
        )
    if max_shift < 0:
        raise ValueError(f"best_shift: max_shift must be >= 0, got {max_shift}")
    n, h, w, _ = src.shape
    m = int(max_shift)
    padded = np.pad(src, ((0, 0), (m, m), (m, m), (0, 0)), mode="edge")
    goal = target.astype(np.float32)
    best, out = np.full(n, np.inf), src.copy()
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            moved = padded[:, m - dy : m - dy + h, m - dx : m - dx + w]  # moved[y, x] = src[y - dy, x - dx]
            err = ((moved.astype(np.float32) - goal) ** 2).mean(axis=(1, 2, 3))
            better = err < best
            best[better] = err[better]
            out[better] = moved[better]
    return out


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame SSIM of uint8 frames (N, H, W, 3) (7x7 uniform window, colour channels averaged)."""
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ssim: expected two (N, H, W, 3) arrays of one shape, got {a.shape} and {b.shape}")
    return np.array([structural_similarity(x, y, channel_axis=-1, data_range=255) for x, y in zip(a, b)])
