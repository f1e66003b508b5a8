"""Policies of graded quality for ranking tests: a base policy diluted with random actions, and standing still."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.policies.base import Policy
from worldsim.policies.random import RandomPolicy


class EpsilonPolicy(Policy):
    """Each step, with probability ``epsilon`` a uniformly random action, else the ``base`` policy's (which sees
    every step, so its own state follows the episode). ``epsilon`` from 0 to 1 makes a ladder of policies from
    the base down to random, whose order a dream must keep (``worldsim evaluate policies=[...]``)."""

    def __init__(self, base: Policy, epsilon: float, num_envs: int = 1, seed: int | None = None):
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        super().__init__(base.action_space, num_envs, seed)
        self.base, self.epsilon = base, float(epsilon)
        self.random = RandomPolicy(base.action_space, num_envs, None if seed is None else seed + 7919)

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = self._check_batch(obs)
        actions = self.base.act(obs, info, mask)
        noise = self.random.act(obs, info, mask)
        coin = np.array([rng.random() < self.epsilon for rng in self.rngs])
        actions[coin] = noise[coin]
        return actions

    def reset(self, mask: np.ndarray | None = None, seeds=None) -> None:
        super().reset(mask, seeds)
        self.base.reset(mask, seeds)
        self.random.reset(mask, None if seeds is None else [None if s is None else s + 7919 for s in seeds])


class StillPolicy(Policy):
    """Does nothing: the all-zero action (the no-op of the voxel world's MultiDiscrete space), the floor of any
    ranking."""

    def __init__(self, action_space: gym.Space, num_envs: int = 1, seed: int | None = None):
        super().__init__(action_space, num_envs, seed)
        self._zero = np.zeros_like(np.asarray(action_space.sample()))
        if not action_space.contains(self._zero):
            raise ValueError(f"the still policy acts with zeros, which are not an action of {action_space}")

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        self._check_batch(obs)
        return np.stack([self._zero] * self.num_envs)
