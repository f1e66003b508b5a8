"""Writing frames out: videos (mp4, or gif when ffmpeg is missing or asked for) and contact sheets (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale of (..., H, W, C) frames by an integer factor."""
    if scale == 1:
        return frames
    return np.repeat(np.repeat(frames, scale, axis=-3), scale, axis=-2)


def write_video(path: str | Path, frames: np.ndarray | list[np.ndarray], fps: int = 20, scale: int = 4) -> Path:
    """Write uint8 frames (T, H, W, 3) to ``path`` (.mp4 or .gif), upscaled ``scale`` times; returns the path."""
    import imageio.v2 as imageio

    frames = upscale(np.asarray(frames, dtype=np.uint8), scale)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"write_video expects frames of shape (T, H, W, 3), got {frames.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        imageio.mimsave(path, list(frames), duration=1.0 / fps, loop=0)
    elif path.suffix == ".mp4":
        pad_h, pad_w = (-frames.shape[1]) % 16, (-frames.shape[2]) % 16  # codec macro-blocks
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        imageio.mimsave(path, list(frames), fps=fps, codec="libx264", quality=8, macro_block_size=16)
    else:
        raise ValueError(f"unknown video format {path.suffix!r}: use .mp4 or .gif")
    return path


def contact_sheet(frames: np.ndarray, cols: int = 8, scale: int = 2, gap: int = 2) -> np.ndarray:
    """Tile frames (T, H, W, 3) into one image, ``cols`` per row, with white gaps."""
    frames = upscale(np.asarray(frames, dtype=np.uint8), scale)
    t, h, w, c = frames.shape
    rows = -(-t // cols)
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, c), 255, dtype=np.uint8)
    for k, f in enumerate(frames):
        r, q = divmod(k, cols)
        y, x = gap + r * (h + gap), gap + q * (w + gap)
        sheet[y : y + h, x : x + w] = f
    return sheet


def save_png(path: str | Path, image: np.ndarray) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return path
