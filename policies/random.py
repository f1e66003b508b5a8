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
        self._spaces = [copy.deepcopy(action_space) for _ in range(self.num_envs)]
        for i in range(self.num_envs):
            self._reseeded(i)
        self._filler = np.zeros_like(np.asarray(action_space.sample()))  # for envs outside ``mask``

    def _reseeded(self, i: int) -> None:
        self._spaces[i].seed(int(self.rngs[i].integers(2**31 - 1)))

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        self._check_batch(obs)
        todo = range(self.num_envs) if mask is None else np.flatnonzero(mask)
        actions = np.stack([self._filler] * self.num_envs)
        for i in todo:
            actions[i] = self._spaces[i].sample()
        return actions
