"""Actions of any Gymnasium action space -> one conditioning vector per frame.

A frame is conditioned on the action that led into it; the first frame of a clip has none and gets a learned
"no action" embedding instead. Action spaces travel inside checkpoints as JSON (``space_to_json``), so a model
knows which env it can dream.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn


def space_to_json(space: gym.Space) -> dict:
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in np.asarray(space.nvec).ravel()]}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "low": np.asarray(space.low, np.float64).ravel().tolist(),
                "high": np.asarray(space.high, np.float64).ravel().tolist(), "shape": list(space.shape)}  # fmt: skip
    raise ValueError(f"unsupported action space {space}: use Discrete, MultiDiscrete or Box")


def space_from_json(d: dict) -> gym.Space:
    kind = d.get("type")
    if kind == "Discrete":
        return gym.spaces.Discrete(d["n"], start=d.get("start", 0))
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(d["nvec"])
    if kind == "Box":
        shape = tuple(d["shape"])
        low = np.asarray(d["low"], np.float32).reshape(shape)
        high = np.asarray(d["high"], np.float32).reshape(shape)
        return gym.spaces.Box(low, high, shape, np.float32)
    raise ValueError(f"unknown action space description {d}")


def action_dim(space: gym.Space) -> int:
    """Width of an action once flattened (as FrameStore stores it)."""
    if isinstance(space, gym.spaces.Discrete):
        return 1
    return int(np.prod(space.shape))


def check_actions(space: gym.Space, actions, what: str = "action") -> np.ndarray:
    """Validate a batch of actions (N, ...) against ``space``: TypeError for what is not a batch of numbers,
    ValueError naming the first bad action by its index and saying what is wrong with it."""
    if actions is None:
        raise TypeError(f"{what}s must be a batch of actions (N, ...) of {space}, got None")
    try:
        actions = np.asarray(actions)
    except ValueError as exc:  # ragged nesting
        raise ValueError(f"{what}s must be a batch of actions of one shape for {space}: {exc}") from exc
    if actions.dtype == object or not (np.issubdtype(actions.dtype, np.number) or actions.dtype == bool):
        raise TypeError(f"{what}s must be numbers for {space}, got an array of {actions.dtype}")
    if actions.ndim == 0:
        raise ValueError(f"{what}s must be a batch (leading axis), got the scalar {actions.tolist()}")
    discrete = isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))
    if discrete and not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"{what}s are {actions.dtype}, but {space} takes integers (cast with .astype(int))")
    for i, a in enumerate(actions):
        if not space.contains(a):
            raise ValueError(f"{what} {i}: {np.asarray(a).tolist()!r} is outside the action space {space}: "
                             f"{why_not(space, np.asarray(a))}")  # fmt: skip
    return actions


def why_not(space: gym.Space, a: np.ndarray) -> str:
    """What keeps the action ``a`` out of ``space``, in words."""
    shape = tuple(space.shape or ())
    if a.shape != shape:
        return f"shape {a.shape}, expected {shape}"
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        return "it is not finite (NaN or inf)"
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        if not np.issubdtype(a.dtype, np.integer):
            return f"dtype {a.dtype}: a discrete space takes integers (cast with .astype(int))"
        low = np.asarray(space.start)
        high = low + (space.n if isinstance(space, gym.spaces.Discrete) else space.nvec) - 1
        return f"outside [{low.tolist()}, {high.tolist()}]"
    if isinstance(space, gym.spaces.Box):
        return f"outside the bounds [{space.low.min()}, {space.high.max()}] (or dtype {a.dtype} not {space.dtype})"
    return "not contained"


class ActionEmbedding(nn.Module):
    """Flattened float actions (B, T, A) plus a has-action mask (B, T) -> embeddings (B, T, dim)."""

    def __init__(self, space: gym.Space, dim: int):
        super().__init__()
        self.space = space
        self.none = nn.Parameter(torch.zeros(dim))  # the learned "no action" (first frame of a clip)
        if isinstance(space, gym.spaces.Discrete):
            self.kind = "discrete"
            self.register_buffer("offsets", torch.tensor([0]), persistent=False)
            self.register_buffer("start", torch.tensor([int(space.start)]), persistent=False)
            self.table = nn.Embedding(int(space.n), dim)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            self.kind = "discrete"
            nvec = np.asarray(space.nvec).ravel()
            self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(nvec)[:-1]])), persistent=False)
            self.register_buffer("start", torch.zeros(len(nvec), dtype=torch.long), persistent=False)
            self.table = nn.Embedding(int(nvec.sum()), dim)  # one sub-table per component, summed
        elif isinstance(space, gym.spaces.Box):
            self.kind = "box"
            low = torch.as_tensor(np.asarray(space.low, np.float32).ravel())
            high = torch.as_tensor(np.asarray(space.high, np.float32).ravel())
            finite = torch.isfinite(low) & torch.isfinite(high)
            self.register_buffer("center", torch.where(finite, (low + high) / 2, 0.0), persistent=False)
            self.register_buffer(
                "halfwidth", torch.where(finite, (high - low).clamp_min(1e-6) / 2, 1.0), persistent=False
            )
            self.proj = nn.Sequential(nn.Linear(low.numel(), dim), nn.SiLU(), nn.Linear(dim, dim))
        else:
            raise ValueError(f"unsupported action space {space}")
        nn.init.normal_(self.none, std=0.02)

    def forward(self, actions: torch.Tensor, has_action: torch.Tensor) -> torch.Tensor:
        # actions: (B, T, A) float; has_action: (B, T) bool
        if self.kind == "discrete":
            idx = (actions.round().long() - self.start) + self.offsets  # (B, T, A)
            idx = torch.where(has_action[..., None], idx, torch.zeros_like(idx))
            emb = self.table(idx).sum(dim=-2)  # (B, T, dim)
        else:
            emb = self.proj((actions - self.center) / self.halfwidth)  # (B, T, dim)
        return torch.where(has_action[..., None], emb, self.none)
