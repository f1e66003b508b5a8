"""The reward model: the frame before, the frame after and the action between -> the world's reward, as a class.

DIAMOND gives its dreams rewards from a model of its own that reads the frames, beside the diffusion model, rather
than from the diffusion model's features. worldsim does the same where a world-model folder holds
``reward.safetensors`` (``worldsim train-reward``, then ``worldsim export reward=...``): every dream step
(``worldsim.dream.Dream``) decodes the new frame and asks this model what the step paid, given the frame before it
and the action. Why: the DiT's reward head reads its own context ("*break* pressed in front of a log"), so it
pays every press of a held button, the exploit a policy trained in the dream finds first (the report card's
held-break probe: 12.8 per 16 presses against the real world's 1.4). A model that sees only the two frames can pay
only for what changed between them (a log that vanished), so a dream pays a held press once, as the world does.

The trunk is the inverse-dynamics model's (``FramePairNet``: a frame encoder for each frame and a motion encoder of
the two stacked), the action joins through ``ActionEmbedding`` (any Gymnasium space), and the head gives one logit
per reward value the recording holds (``reward_values``, as the DiT's class head and DreamerV3 do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldsim.models.actions import ActionEmbedding, space_from_json
from worldsim.models.idm import FramePairNet


@dataclass
class RewardModelConfig:
    resolution: tuple[int, int] = (64, 64)  # (H, W) of the frames
    action_space: dict | None = None  # the env's action space as JSON (space_to_json)
    reward_values: tuple[float, ...] = (-1.0, 0.0, 1.0)  # the classes: the distinct rewards of the recording
    widths: tuple[int, int, int] = (16, 32, 64)  # encoder channels at H/2, H/4, H/8
    head_width: int = 64

    def __post_init__(self):
        self.resolution = tuple(int(r) for r in self.resolution)
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.resolution) != 2 or any(r < 16 or r % 16 for r in self.resolution):
            raise ValueError(f"the reward model needs frame sizes that are multiples of 16, got {self.resolution}")
        if self.action_space is None:
            raise ValueError("RewardModelConfig needs the action space (space_to_json(env.action_space))")
        space_from_json(self.action_space)  # a clear error for a description it cannot read
        values = tuple(float(v) for v in self.reward_values)
        if len(values) < 2 or not all(math.isfinite(v) for v in values) or list(values) != sorted(set(values)):
            raise ValueError(f"reward_values must be two or more distinct finite numbers in increasing order, got "
                             f"{self.reward_values!r}")  # fmt: skip
        self.reward_values = values
        if len(self.widths) != 3 or min(self.widths) < 8 or any(w % 8 for w in self.widths) or self.head_width < 8:
            raise ValueError(f"widths must be three multiples of 8 and head_width at least 8, got {self.widths}, "
                             f"{self.head_width}")  # fmt: skip


class RewardModel(FramePairNet):
    """``forward(before, after, actions)``: uint8 frames (B, H, W, 3), flat float actions (B, A) -> logits (B, K)
    over ``cfg.reward_values``; ``predict`` gives the most likely value."""

    def __init__(self, cfg: RewardModelConfig):
        super().__init__(cfg.resolution, cfg.widths, cfg.head_width)
        self.cfg = cfg
        self.action_space = space_from_json(cfg.action_space)
        width = 2 * cfg.head_width
        self.action = ActionEmbedding(self.action_space, width)
        self.out = nn.Sequential(nn.Linear(2 * width, width), nn.SiLU(), nn.Linear(width, len(cfg.reward_values)))
        self.register_buffer("values", torch.tensor(cfg.reward_values, dtype=torch.float64), persistent=False)

    def forward(self, before, after, actions) -> torch.Tensor:
        h = self.pair_features(before, after)
        acts = torch.as_tensor(actions, dtype=torch.float32, device=h.device).reshape(len(h), 1, -1)
        a = self.action(acts, torch.ones(len(h), 1, dtype=torch.bool, device=h.device))[:, 0]
        return self.out(torch.cat([h, a], dim=1))

    def classes(self, rewards) -> torch.Tensor:
        """Rewards (B,) -> the index of each among ``reward_values`` (ValueError for a value not among them)."""
        r = torch.as_tensor(np.asarray(rewards, dtype=np.float64))
        values = self.values.cpu()
        idx = torch.searchsorted(values, r).clamp(max=len(values) - 1)
        if not bool((values[idx] == r).all()):
            bad = r[values[idx] != r][0].item()
            raise ValueError(f"reward {bad} is not one of the model's reward_values {self.cfg.reward_values}")
        return idx

    def loss(self, before, after, actions, rewards, weight: torch.Tensor | None = None):
        """Cross-entropy against the true rewards (B,), optionally weighted per class."""
        logits = self(before, after, actions)
        y = self.classes(rewards).to(logits.device)
        loss = F.cross_entropy(logits, y, weight=None if weight is None else weight.to(logits.device))
        return loss, {"loss": loss.item(), "accuracy": (logits.argmax(1) == y).float().mean().item()}

    @torch.no_grad()
    def predict(self, before, after, actions, batch: int = 512) -> np.ndarray:
        """The most likely reward (N,) float64 of each transition."""
        out = [self.values[self(before[i : i + batch], after[i : i + batch], actions[i : i + batch]).argmax(1)]
               for i in range(0, len(before), batch)]  # fmt: skip
        return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def load_reward_model(path, device: str | torch.device = "cpu") -> RewardModel:
    """A trained reward model from its safetensors checkpoint (``worldsim train-reward``)."""
    from worldsim.checkpoint import load_module

    return load_module(path, "reward", RewardModelConfig, RewardModel)[0].to(device)


__all__ = ["RewardModel", "RewardModelConfig", "load_reward_model"]
