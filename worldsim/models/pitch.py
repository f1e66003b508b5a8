"""The camera's pitch as a conditioning input: a dream that knows where its camera points.

A sliding window of frames shows the camera's pitch only as far as the frames do. Over hundreds of steps a dream
loses it: under long random play the shipped model's dreams showed sky in a quarter to a third of the pixels while
the real camera looked steeply down (the real world: 1-3%), and a twentieth of sky where the real camera looked up
(the real world: half). In a world whose camera turns in fixed steps the pitch is known exactly from the actions:
it starts level at reset and each camera action moves it one step, clamped at the world's limit (the voxel world:
5 degrees a step, +-60 degrees; ``ViewPose``, ``worldsim.memory``). A model with ``DiTConfig.pitch`` reads each
frame's pitch (an index into a learned table, one more entry for "unknown") beside its action; training draws it
from the recorded actions (every episode starts at reset), a dream integrates it as it plays. Camera pose
conditioning is what camera-controlled video models and WorldMem's pose-keyed memory use; here the pose is
the pitch alone (yaw has no world-fixed meaning a frame could show).

``PitchRule`` is the rule (saved in the DiT's config); ``pitch_track`` integrates it over recorded episodes,
``PitchRule.step`` over a dream's actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class PitchRule:
    """Which action column turns the pitch, by how many steps each value turns it, and the clamp (+- ``limit``)."""

    column: int
    steps: dict[int, int]  # camera value -> pitch steps (signed)
    limit: int

    @classmethod
    def from_config(cls, cfg: dict | None, action_width: int) -> PitchRule | None:
        """The rule from ``DiTConfig.pitch`` (None: no pitch input); ValueError naming the field otherwise."""
        if cfg is None:
            return None
        if not isinstance(cfg, dict) or set(cfg) != {"column", "steps", "limit"}:
            raise ValueError(f"pitch must be null or {{column, steps, limit}}, got {cfg!r}")
        column, steps, limit = cfg["column"], cfg["steps"], cfg["limit"]
        if isinstance(column, bool) or not isinstance(column, int) or not 0 <= column < action_width:
            raise ValueError(f"pitch.column must be an action column in [0, {action_width}), got {column!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"pitch.limit must be a whole number of steps in [1, 1000], got {limit!r}")
        if not isinstance(steps, dict) or not steps:
            raise ValueError(f"pitch.steps must map camera values to pitch steps, got {steps!r}")
        try:  # JSON keeps the keys as strings
            parsed = {int(k): v for k, v in steps.items()}
        except (TypeError, ValueError):
            raise ValueError(f"pitch.steps keys must be whole camera values, got {list(steps)}") from None
        if any(isinstance(v, bool) or not isinstance(v, int) or v == 0 or abs(v) > limit for v in parsed.values()):
            raise ValueError(f"pitch.steps values must be nonzero whole steps within the limit, got {steps!r}")
        return cls(column, parsed, limit)

    @classmethod
    def from_view_pose(cls, pose) -> PitchRule:
        """The rule of a world's ``ViewPose`` (``worldsim.memory``)."""
        return cls(int(pose.column), {int(k): int(v) for k, v in pose.pitch.items()}, int(pose.pitch_limit))

    def to_config(self) -> dict:
        return {"column": self.column, "steps": {str(k): v for k, v in sorted(self.steps.items())},
                "limit": self.limit}  # fmt: skip

    @property
    def unknown(self) -> int:
        """The table index of an unknown pitch (a dream started from frames alone)."""
        return 2 * self.limit + 1

    def delta(self, actions: torch.Tensor) -> torch.Tensor:
        """Pitch steps (long, shape of ``actions[..., 0]``) each flat action (..., A) turns."""
        value = actions[..., self.column].round().long()
        out = torch.zeros_like(value)
        for v, s in self.steps.items():
            out = torch.where(value == v, s, out)
        return out

    def step(self, pitch: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The pitch after ``actions`` (flat, (..., A)) from ``pitch`` (long, (...)), clamped to the limit."""
        return (pitch + self.delta(actions)).clamp(-self.limit, self.limit)

    def index(self, pitch: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """Table indices: pitch + limit where known, ``unknown`` elsewhere."""
        idx = pitch.long() + self.limit
        return idx if known is None else torch.where(known, idx, torch.full_like(idx, self.unknown))


def pitch_track(actions: np.ndarray, ep_start: np.ndarray, rule: PitchRule) -> np.ndarray:
    """Each frame's pitch (int64, one per frame) in recorded episodes that start at reset (level, pitch 0):
    ``actions`` (frames, A) flat, the action at frame j leading to frame j + 1 (``FrameStore``'s layout);
    ``ep_start`` the episodes' first frames and the end."""
    delta = rule.delta(torch.as_tensor(np.asarray(actions, np.float32))).numpy()
    out = np.zeros(len(delta), np.int64)
    for a, b in zip(ep_start[:-1], ep_start[1:]):
        p = 0
        for j in range(int(a), int(b)):  # clamped, so not a cumulative sum
            out[j] = p
            p = min(max(p + int(delta[j]), -rule.limit), rule.limit)
    return out


def pitch_at(rule: PitchRule | None, actions, frame: int) -> int | None:
    """The pitch (steps) at ``frame`` of an episode from reset that took ``actions`` (raw or flat, (n, A), n >=
    ``frame``): the pitch before action ``frame`` of the same track; None without a rule."""
    if rule is None:
        return None
    acts = np.asarray(actions, np.float32).reshape(len(actions), -1)[:frame]
    padded = np.concatenate([acts, np.zeros((1, acts.shape[1]), np.float32)])  # (the frame itself takes none)
    return int(pitch_track(padded, np.array([0, len(padded)]), rule)[-1])


class PitchEmbedding(nn.Module):
    """Pitch indices (B, T) long -> embeddings (B, T, dim); a table of 2 * limit + 2 entries (the last: unknown),
    zero at the start, so that a model warm-started from one without the input begins as that model."""

    def __init__(self, rule: PitchRule, dim: int):
        super().__init__()
        self.table = nn.Embedding(rule.unknown + 1, dim)
        nn.init.zeros_(self.table.weight)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.table(index)
