"""The inverse-dynamics model (IDM): two consecutive frames -> the action taken between them.

As MineWorld and Matrix-Game score action following, the report card (``worldsim/eval/report.py``) asks an IDM
trained on real transitions which action led from one dreamed frame to the next: where the dream follows the
controls, the IDM reads the true action off it about as often as off real frames.

A frame encoder maps each frame to a small feature map (C, H/8, W/8), and a motion encoder of the same shape reads
the two frames stacked, at full resolution (a step forward moves near things by a pixel or two, which a per-frame
map at H/8 no longer shows); the head reads the three maps and gives one classifier per column of a discrete action
space (movement, camera and interaction for the voxel world). The frame encoder's pooled map is also the feature
vector of a single frame that the report's Frechet distance compares dreams and real frames with.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldsim.models.actions import space_from_json


@dataclass
class IDMConfig:
    resolution: tuple[int, int] = (64, 64)  # (H, W) of the frames
    action_space: dict | None = None  # the env's action space as JSON (Discrete or MultiDiscrete)
    widths: tuple[int, int, int] = (16, 32, 64)  # encoder channels at H/2, H/4, H/8
    head_width: int = 64

    def __post_init__(self):
        self.resolution = tuple(int(r) for r in self.resolution)
        self.widths = tuple(int(w) for w in self.widths)
        if any(r % 8 for r in self.resolution):
            raise ValueError(f"the IDM needs frame sizes divisible by 8, got {self.resolution}")
        if self.action_space is None:
            raise ValueError("IDMConfig needs the action space (space_to_json(env.action_space))")
        columns(space_from_json(self.action_space))  # a clear error for spaces it cannot classify


def columns(space: gym.Space) -> list[int]:
    """The number of choices in each action column of a Discrete or MultiDiscrete space."""
    if isinstance(space, gym.spaces.Discrete):
        return [int(space.n)]
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        return [int(n) for n in space.nvec]
    raise ValueError(f"the inverse-dynamics model classifies Discrete or MultiDiscrete actions, not {space}")


def _conv(a: int, b: int, k: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, k, stride, padding=(k - stride + 1) // 2), nn.GroupNorm(8, b), nn.SiLU())


class FramePairNet(nn.Module):
    """The trunk the IDM and the reward model share: two frames (before, after) -> one feature vector. A frame
    encoder maps each frame to a feature map (C, H/8, W/8); a motion encoder of the same shape reads the two frames
    stacked at full resolution; a head reads the three maps into ``2 * head_width`` features."""

    def __init__(self, resolution: tuple[int, int], widths: tuple[int, int, int], head_width: int):
        super().__init__()
        w1, w2, w3 = widths
        self.encoder = nn.Sequential(_conv(3, w1, 4, 2), _conv(w1, w2, 4, 2), _conv(w2, w3, 3, 2))
        self.motion = nn.Sequential(_conv(6, w1, 3, 1), _conv(w1, w1, 4, 2), _conv(w1, w2, 4, 2), _conv(w2, w3, 3, 2))
        hw = head_width
        h, w = resolution[0] // 16, resolution[1] // 16
        self.head = nn.Sequential(_conv(3 * w3, hw, 3, 1), _conv(hw, hw, 3, 2), nn.Flatten(),
                                  nn.Linear(hw * h * w, 2 * hw), nn.SiLU())  # fmt: skip

    def _input(self, frames) -> torch.Tensor:
        """uint8 frames (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1] on the model's device."""
        x = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        return x.to(next(self.parameters()).device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    def pair_features(self, before, after) -> torch.Tensor:
        """uint8 frames (B, H, W, 3) before and after -> features (B, 2 * head_width)."""
        a, b = self._input(before), self._input(after)
        return self.head(torch.cat([self.encoder(a), self.encoder(b), self.motion(torch.cat([a, b], dim=1))], dim=1))


class IDM(FramePairNet):
    """``forward(a, b)``: uint8 frames (B, H, W, 3) before and after -> a list of logits (B, n_c), one per column."""

    def __init__(self, cfg: IDMConfig):
        super().__init__(cfg.resolution, cfg.widths, cfg.head_width)
        self.cfg = cfg
        self.columns = columns(space_from_json(cfg.action_space))
        self.outs = nn.ModuleList([nn.Linear(2 * cfg.head_width, n) for n in self.columns])

    def encode(self, frames) -> torch.Tensor:
        """uint8 frames (B, H, W, 3) -> feature maps (B, C, H/8, W/8)."""
        return self.encoder(self._input(frames))

    def features(self, frames) -> torch.Tensor:
        """One feature vector per frame (B, C): the encoder's map, averaged over space."""
        return self.encode(frames).mean(dim=(2, 3))

    def forward(self, before, after) -> list[torch.Tensor]:
        h = self.pair_features(before, after)
        return [out(h) for out in self.outs]

    def loss(self, before, after, actions: torch.Tensor, weights: list | None = None):
        """Summed cross-entropy over the columns; actions (B, n_columns) ints; ``weights``: per column, a weight
        per value (e.g. inverse frequencies, so that a common action does not drown the rare ones)."""
        logits = self(before, after)
        actions = actions.to(logits[0].device).long()
        weights = weights or [None] * len(logits)
        losses = [F.cross_entropy(lg, actions[:, c], weight=weights[c]) for c, lg in enumerate(logits)]
        accs = [(lg.argmax(1) == actions[:, c]).float().mean().item() for c, lg in enumerate(logits)]
        total = sum(losses)
        return total, {"loss": total.item(), **{f"acc_{c}": a for c, a in enumerate(accs)}}

    @torch.no_grad()
    def predict(self, before, after, batch: int = 256) -> np.ndarray:
        """The most likely action (N, n_columns) int64 for each pair of frames."""
        out = []
        for i in range(0, len(before), batch):
            logits = self(before[i : i + batch], after[i : i + batch])
            out.append(torch.stack([lg.argmax(1) for lg in logits], 1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.columns)), np.int64)

    @torch.no_grad()
    def frame_features(self, frames, batch: int = 512) -> np.ndarray:
        out = [self.features(frames[i : i + batch]).cpu().numpy() for i in range(0, len(frames), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.cfg.widths[-1]), np.float32)


def load_idm(path: str, device: str = "cpu") -> IDM:
    """A trained IDM from its safetensors checkpoint (``worldsim train-idm``)."""
    from worldsim.checkpoint import load_module

    return load_module(path, "idm", IDMConfig, IDM)[0].to(device)
