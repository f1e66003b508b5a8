"""Uniformly random actions from any Gymnasium action space."""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.policies.base import Policy


class RandomPolicy(Policy):
    """Samples each env's action uniformly from the action space, from its own seeded RNG."""

    def __init__(self, action_space: gym.Space, num_envs: int = 1, seed: int | None = None):
        super().__init__(action_space, num_envs, seed)
        self._space = copy.deepcopy(action_space)
        self._space.seed(int(self.rng.integers(2**31 - 1)))

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        self._check_batch(obs)
        return np.stack([np.asarray(self._space.sample()) for _ in range(self.num_envs)])
