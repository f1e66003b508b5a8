"""Policies of graded quality for ranking tests (a base policy diluted with random actions, and standing still),
and one that records what a base policy never does (holding a button on after it did its work)."""

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


def _check_share(name: str, prob: float) -> None:
    """A wrapper's probability, checked: ValueError naming the wrapper unless it lies in [0, 1]."""
    if not 0.0 <= float(prob) <= 1.0:
        raise ValueError(f"{name} probability must be in [0, 1], got {prob!r}")


def _scripted_space(name: str, base: Policy, prob: float, column: int, values: tuple[int, ...], what: str):
    """The base policy's action space, checked for a wrapper that plays scripted values in one column of a
    MultiDiscrete space in a share ``prob`` of the time: ValueError naming the wrapper and what it needs."""
    _check_share(name, prob)
    space = base.action_space
    if (
        not isinstance(space, gym.spaces.MultiDiscrete)
        or space.nvec.ndim != 1
        or not (0 <= column < len(space.nvec) and all(0 <= v < space.nvec[column] for v in values))
    ):
        raise ValueError(f"{name}: needs a MultiDiscrete action space with a column {column} that takes "
                         f"{what.format(*values)}, got {space}")  # fmt: skip
    return space


def _zero_action(space: gym.Space, who: str) -> np.ndarray:
    """The all-zero action of ``space`` (the voxel world's no-op), or a ValueError naming ``who`` needs it."""
    zero = np.zeros_like(np.asarray(space.sample()))
    if not space.contains(zero):
        raise ValueError(f"{who} acts with zeros, which are not an action of {space}")
    return zero


class StillPolicy(Policy):
    """Does nothing: the all-zero action (the no-op of the voxel world's MultiDiscrete space), the floor of any
    ranking."""

    def __init__(self, action_space: gym.Space, num_envs: int = 1, seed: int | None = None):
        super().__init__(action_space, num_envs, seed)
        self._zero = _zero_action(action_space, "the still policy")

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        self._check_batch(obs)
        return np.stack([self._zero] * self.num_envs)


class HoldPolicy(Policy):
    """The ``base`` policy, but after each of its actions that presses ``value`` in column ``column`` (the voxel
    world's *break*), with probability ``prob`` it holds that button for 1 to ``max_hold`` more steps, doing
    nothing else (the other columns 0), without consulting the base policy; then the base policy goes on.

    People click on after the block is gone; a scripted explorer never does, so a recording of it never shows
    that a second press on the empty place pays nothing, and a model trained on it learns "break in front of a
    log pays" instead of "a log that vanishes pays" (a dream-trained policy then holds *break* forever). Recording
    some play with ``hold:<p>:explorer`` shows the difference (README, "What was tried").
    """

    def __init__(self, base: Policy, prob: float, num_envs: int = 1, seed: int | None = None, column: int = 2,
                 value: int = 2, max_hold: int = 4):  # fmt: skip
        space = _scripted_space("hold", base, prob, column, (value,), "the value {} (the voxel world's break)")
        if max_hold < 1:
            raise ValueError(f"max_hold must be at least 1, got {max_hold}")
        super().__init__(space, num_envs, seed)
        self.base, self.prob, self.column, self.value, self.max_hold = base, float(prob), column, value, max_hold
        self.left = np.zeros(num_envs, dtype=np.int64)  # held steps still to come, per env

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = self._check_batch(obs)
        wanted = self._envs(mask)
        holding = wanted & (self.left > 0)
        actions = np.zeros((self.num_envs, len(self.action_space.nvec)), dtype=np.int64)
        if (wanted & ~holding).any():
            actions[:] = self.base.act(obs, info, wanted & ~holding)
        actions[holding] = 0
        actions[holding, self.column] = self.value
        self.left[holding] -= 1
        for i in np.flatnonzero(wanted & ~holding):
            if actions[i, self.column] == self.value and self.rngs[i].random() < self.prob:
                self.left[i] = self.rngs[i].integers(1, self.max_hold + 1)
        return actions

    def reset(self, mask: np.ndarray | None = None, seeds=None) -> None:
        super().reset(mask, seeds)
        self.base.reset(mask, seeds)
        self.left[self._envs(mask)] = 0


class RevisitPolicy(Policy):
    """The ``base`` policy, but each step, with probability ``prob``, it breaks off to look away and back: it turns
    the camera 4 to ``max_turn`` steps one way (``column`` takes ``left`` or ``right``), waits 0 to ``max_dwell``
    steps, turns the same number of steps back, every other column 0 throughout (so the player stands where it
    stood and ends on the view it left), then the base policy goes on. A scripted explorer rarely turns back, so a
    recording of it never asks a model to bring back what left the view; the report card's look-away and
    360-degree probes do. Recording some play with ``revisit:<p>:explorer`` shows what a context window is for.
    """

    def __init__(self, base: Policy, prob: float, num_envs: int = 1, seed: int | None = None, column: int = 1,
                 left: int = 1, right: int = 2, max_turn: int = 18, max_dwell: int = 16):  # fmt: skip
        space = _scripted_space("revisit", base, prob, column, (left, right),
                                "the values {} and {} (the voxel world's yaw left / right)")  # fmt: skip
        if max_turn < 4 or max_dwell < 0:
            raise ValueError(f"max_turn must be at least 4 and max_dwell at least 0, got {max_turn}, {max_dwell}")
        super().__init__(space, num_envs, seed)
        self.base, self.prob, self.column = base, float(prob), column
        self.turns, self.max_turn, self.max_dwell = (left, right), max_turn, max_dwell
        self.plan: list[list[int]] = [[] for _ in range(num_envs)]  # camera values still to play, per env

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = self._check_batch(obs)
        wanted = self._envs(mask)
        for i in np.flatnonzero(wanted):  # start a look-away where the base policy was in charge
            if not self.plan[i] and self.rngs[i].random() < self.prob:
                way = int(self.rngs[i].integers(2))
                turn = int(self.rngs[i].integers(4, self.max_turn + 1))
                dwell = int(self.rngs[i].integers(0, self.max_dwell + 1))
                self.plan[i] = [self.turns[way]] * turn + [0] * dwell + [self.turns[1 - way]] * turn
        moving = np.array([bool(p) for p in self.plan]) & wanted
        actions = np.zeros((self.num_envs, len(self.action_space.nvec)), dtype=np.int64)
        if (wanted & ~moving).any():
            actions[:] = self.base.act(obs, info, wanted & ~moving)
        for i in np.flatnonzero(moving):
            actions[i] = 0
            actions[i, self.column] = self.plan[i].pop(0)
        return actions

    def reset(self, mask: np.ndarray | None = None, seeds=None) -> None:
        super().reset(mask, seeds)
        self.base.reset(mask, seeds)
        for i in np.flatnonzero(self._envs(mask)):
            self.plan[i] = []


class PausePolicy(Policy):
    """The ``base`` policy, but each step, with probability ``prob``, it stops: the all-zero action (no move, no
    turn, no button) for 1 to ``max_pause`` steps, without consulting the base policy; then the base policy goes on.

    A scripted explorer never stands still (not one no-op in 1,200 steps of its play, session 37) and uniform random
    play stands still one step in a hundred, never two in a row, so a model trained on their recordings has not
    seen that doing nothing leaves the view as it is, wherever the player just walked, jumped or turned: its dream
    drifts off a standing view within a few steps (the report's still and settled-memory probes). Recording some
    play with ``pause:<p>:<base>`` shows it.
    """

    def __init__(self, base: Policy, prob: float, num_envs: int = 1, seed: int | None = None, max_pause: int = 24):
        _check_share("pause", prob)
        if max_pause < 1:
            raise ValueError(f"max_pause must be at least 1, got {max_pause}")
        super().__init__(base.action_space, num_envs, seed)
        self._zero = _zero_action(base.action_space, "pause")
        self.base, self.prob, self.max_pause = base, float(prob), max_pause
        self.left = np.zeros(num_envs, dtype=np.int64)  # still steps to come, per env

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = self._check_batch(obs)
        wanted = self._envs(mask)
        for i in np.flatnonzero(wanted & (self.left == 0)):
            if self.rngs[i].random() < self.prob:
                self.left[i] = self.rngs[i].integers(1, self.max_pause + 1)
        pausing = wanted & (self.left > 0)
        actions = np.stack([self._zero] * self.num_envs)
        if (wanted & ~pausing).any():
            actions[:] = self.base.act(obs, info, wanted & ~pausing)
        actions[pausing] = self._zero
        self.left[pausing] -= 1
        return actions

    def reset(self, mask: np.ndarray | None = None, seeds=None) -> None:
        super().reset(mask, seeds)
        self.base.reset(mask, seeds)
        self.left[self._envs(mask)] = 0
