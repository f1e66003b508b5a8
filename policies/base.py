"""The Policy interface: batched ``act(obs, info) -> actions`` for any env, real or dreamed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np


def batch_info(info: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """A single env's ``info`` as a batch of one (the layout vector envs use: each key -> array of N values)."""
    return {k: np.asarray(v)[None] for k, v in (info or {}).items()}


class Policy(ABC):
    """Maps a batch of observations to a batch of actions.

    ``act(obs, info, mask=None)`` takes observations with a leading batch axis of ``num_envs`` and, optionally,
    the env's ``info`` in vector-env layout (a dict of arrays whose first axis is the env index; keys may be
    missing, as in a dream, and policies must cope). It returns actions with the same leading axis; with ``mask``
    (bool, one per env) only the envs where it is True need real actions, and a policy may skip the others.
    ``reset(mask, seeds)`` forgets the per-env state of the envs where ``mask`` is True (all when None): call it
    whenever those envs reset. Every env has its own random generator (``self.rngs[i]``); ``seeds`` (one per env,
    or None) reseeds those of the reset envs, so an episode's actions follow from its seed and observations alone,
    whichever env slot or process plays it. ``act_single`` is the same for one unbatched env.
    """

    def __init__(self, action_space: gym.Space, num_envs: int = 1, seed: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.action_space = action_space
        self.num_envs = int(num_envs)
        self.rng = np.random.default_rng(seed)
        self.rngs = self.rng.spawn(self.num_envs)  # one generator per env

    @abstractmethod
    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Actions for a batch of observations (leading axis: env index)."""

    def reset(self, mask: np.ndarray | None = None, seeds=None) -> None:
        """Forget the state of the envs where ``mask`` is True (all when None); reseed their generators from
        ``seeds`` (a sequence with one int or None per env) where given. Subclasses extend this."""
        if seeds is None:
            return
        if len(seeds) != self.num_envs:
            raise ValueError(f"seeds must have one entry per env ({self.num_envs}), got {len(seeds)}")
        mask = self._envs(mask)
        for i in np.flatnonzero(mask):
            if seeds[i] is not None:
                self.rngs[i] = np.random.default_rng([int(seeds[i]), 0x5EED])
                self._reseeded(i)

    def _envs(self, mask: np.ndarray | None) -> np.ndarray:
        """``mask`` as one bool per env (None: every env)."""
        return np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)

    def _reseeded(self, i: int) -> None:  # noqa: B027 - policies with more per-env randomness extend this
        """Env ``i``'s generator was just reseeded."""

    def act_single(self, obs: np.ndarray, info: dict[str, Any] | None = None):
        """The action for one unbatched observation (requires ``num_envs == 1``)."""
        if self.num_envs != 1:
            raise ValueError(f"act_single needs a policy built with num_envs=1, this one has {self.num_envs}")
        return self.act(np.asarray(obs)[None], batch_info(info))[0]

    def _check_batch(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim == 0 or obs.shape[0] != self.num_envs:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of {self.num_envs} observations (leading axis), "
                f"got shape {obs.shape}"
            )
        return obs
