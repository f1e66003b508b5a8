"""A scripted explorer for the voxel world that plays like a person: wander, look around, chop trees, build.

It sees what a person sees: log blocks are found by their bark colour in the frame, so it acts the same in the
real world and in a dream. Where the env's ``info`` is there (the real world), it also reads ``target_block``
(is a log under the crosshair?) and ``blocked`` (did a wall stop the last move?); where it is not, it falls back
on the pixels: the mean colour around the crosshair (``log_under_crosshair``), and whether the frame changed
while walking.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numba import njit

from worldsim.envs.voxel.blocks import LOG
from worldsim.envs.voxel.env import MAX_PITCH, PITCH_STEP, YAW_STEP
from worldsim.policies.base import Policy

# action columns of VoxelEnv
NOOP, FORWARD, BACK, LEFT, RIGHT = range(5)
CAM_NOOP, YAW_LEFT, YAW_RIGHT, PITCH_UP, PITCH_DOWN = range(5)
ACT_NOOP, JUMP, BREAK, PLACE = range(4)
INFO_KEYS = ("target_block", "blocked", "in_water")  # what the explorer reads of the env's info, when it is there
TURN = max(1, round(15.0 / YAW_STEP))  # camera steps per 15 degrees: the plans below are written in 15-degree units
TILT = max(1, round(15.0 / PITCH_STEP))


def log_mask(frames: np.ndarray) -> np.ndarray:
    """Pixels that look like log bark: (..., H, W, 3) uint8 -> (..., H, W) bool.

    Bark is a dark, saturated brown; shading and the per-block tint scale all channels alike, so the test is on
    channel ratios, which tell bark from dirt, grass sides, planks and sand.
    """
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    flat = frames.reshape(-1, *frames.shape[-3:])
    return _pixel_mask(flat, BARK).reshape(frames.shape[:-1])


def water_mask(frames: np.ndarray) -> np.ndarray:
    """Pixels that look like water (deep blue; the sky is paler): (..., H, W, 3) uint8 -> (..., H, W) bool."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    flat = frames.reshape(-1, *frames.shape[-3:])
    return _pixel_mask(flat, WATER).reshape(frames.shape[:-1])


CROSSHAIR_BRIGHT = 450  # r + g + b above this in the crosshair window: the crosshair itself (white-blue)


def log_under_crosshair(frames: np.ndarray) -> np.ndarray:
    """Is a log under the crosshair, judged from pixels alone: (..., H, W, 3) uint8 -> (...) bool.

    The mean colour of the 3 x 7 window around the crosshair, its own bright pixels left out, passes the bark test,
    and at least 11 of its 21 pixels are not the crosshair. A mean rather than a count of bark pixels: frames that
    a learned decoder draws (every dream's) carry per-pixel colour noise of several levels, which takes single
    pixels of a trunk out of the narrow bark range; a person sees the trunk all the same. Through the shipped VAE,
    real frames the explorer chopped at pass a count of 12 bark pixels in 21 never and this mean test about half
    the time; on 1,200 real explorer frames both fire on about 6% (README, session 15).
    """
    frames = np.asarray(frames)
    h, w = frames.shape[-3:-1]
    cy, cx = h // 2, w // 2
    win = frames[..., cy - 1 : cy + 2, cx - 3 : cx + 4, :].reshape(*frames.shape[:-3], -1, 3).astype(np.float64)
    world = win.sum(axis=-1) <= CROSSHAIR_BRIGHT
    n = world.sum(axis=-1)
    mean = (win * world[..., None]).sum(axis=-2) / np.maximum(n, 1)[..., None]
    return _is_bark(mean[..., 0], mean[..., 1], mean[..., 2]) & (n >= 11)


# the pixel tests run on every frame the explorer sees (recording calls it at thousands of frames/s): compiled
BARK, WATER = 0, 1


@njit(cache=True, inline="always")
def _is_bark(r, g, b):  # integer form of 35 < r < 140, b < 0.42 r, 0.58 r < g < 0.8 r (same answer for every colour);
    # on scalars or arrays alike (``log_under_crosshair`` tests mean colours)
    return (r > 35) & (r < 140) & (100 * b < 42 * r) & (100 * g > 58 * r) & (10 * g < 8 * r)


@njit(cache=True, inline="always")
def _is_water(r, g, b):  # b > 1.8 r and b > 1.4 g
    return 10 * b > 18 * r and 10 * b > 14 * g


@njit(cache=True)
def _pixel_mask(frames, kind):
    n, h, w, _ = frames.shape
    out = np.zeros((n, h, w), np.bool_)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                r, g, b = np.int32(frames[i, y, x, 0]), np.int32(frames[i, y, x, 1]), np.int32(frames[i, y, x, 2])
                out[i, y, x] = _is_bark(r, g, b) if kind == BARK else _is_water(r, g, b)
    return out


@njit(cache=True)
def _features(frames):
    """Everything the explorer reads off its frames, in one pass: the bark mask (n, h, w), bark pixels per column
    (n, w) and in all (n,), and the share of water in the lower middle of the view, where it would walk (n,)."""
    n, h, w, _ = frames.shape
    logs = np.zeros((n, h, w), np.bool_)
    cols = np.zeros((n, w), np.int64)
    count = np.zeros(n, np.int64)
    water = np.zeros(n, np.float64)
    for i in range(n):
        wet = 0
        for y in range(h):
            for x in range(w):
                r, g, b = np.int32(frames[i, y, x, 0]), np.int32(frames[i, y, x, 1]), np.int32(frames[i, y, x, 2])
                if _is_bark(r, g, b):
                    logs[i, y, x] = True
                    cols[i, x] += 1
                    count[i] += 1
                if y >= h // 2 and w // 4 <= x < 3 * w // 4 and _is_water(r, g, b):
                    wet += 1
        water[i] = wet / ((h - h // 2) * (3 * w // 4 - w // 4))
    return logs, cols, count, water


@njit(cache=True)
def _trunk(logs, cols, aim):
    """The trunk to aim at, from a frame's bark mask (h, w) and bark per column (w,): the column with the most bark
    over it and its two neighbours, or, to not dither between two trees, the best column within 6 of ``aim`` (the
    one aimed at last; -1: none) where it still has at least half as much; then that trunk's extent (the run of
    columns with bark around it) and the row offset from the crosshair of its bark pixel nearest the crosshair's
    row. Returns (centre column, first column, last column, dy)."""
    h, w = logs.shape
    mass = np.zeros(w, np.int64)
    for x in range(w):
        mass[x] = cols[x] + (cols[x - 1] if x > 0 else 0) + (cols[x + 1] if x < w - 1 else 0)
    col = 0
    for x in range(1, w):
        if mass[x] > mass[col]:
            col = x
    if aim >= 0:
        lo_, hi_ = max(aim - 6, 0), min(aim + 7, w)
        near_last = lo_
        for x in range(lo_ + 1, hi_):
            if mass[x] > mass[near_last]:
                near_last = x
        if 2 * mass[near_last] >= mass[col]:
            col = near_last
    lo, hi = col, col
    while lo > 0 and cols[lo - 1] > 0:
        lo -= 1
    while hi < w - 1 and cols[hi + 1] > 0:
        hi += 1
    cy = h // 2
    best, dy = h + 1, 0
    for y in range(h):  # rows in order: the first of two equally near wins
        for x in range(lo, hi + 1):
            if logs[y, x]:
                if abs(y - cy) < best:
                    best, dy = abs(y - cy), y - cy
                break
    return (lo + hi) // 2, lo, hi, dy


class ExplorerPolicy(Policy):
    """Explores the voxel world: walks, turns, jumps over steps, looks around, chops the trees it sees, breaks
    and places blocks now and then, and takes an occasional random action, so recordings show every action and
    its effect.

    Args:
        action_space: the voxel world's ``MultiDiscrete([5, 5, 4])``.
        num_envs: batch size of ``act``.
        seed: seeds the policy's own randomness (same seed, same observations -> same actions).
        epsilon: probability of a uniformly random action on any step.
        chop: seek and break logs when seen (off: wander only).
    """

    def __init__(
        self,
        action_space: gym.Space,
        num_envs: int = 1,
        seed: int | None = None,
        epsilon: float = 0.08,
        chop: bool = True,
    ):
        if not (isinstance(action_space, gym.spaces.MultiDiscrete) and tuple(action_space.nvec) == (5, 5, 4)):
            raise ValueError(f"ExplorerPolicy drives the voxel world's MultiDiscrete([5, 5, 4]), got {action_space}")
        super().__init__(action_space, num_envs, seed)
        self.epsilon, self.chop = float(epsilon), bool(chop)
        self._prev = None
        self.reset()

    def reset(self, mask: np.ndarray | None = None, seeds=None) -> None:
        super().reset(mask, seeds)
        mask = self._envs(mask)
        if not hasattr(self, "pitch"):
            n = self.num_envs
            self.pitch = np.zeros(n)  # the env's pitch, tracked from our own camera actions
            self.plan = [[] for _ in range(n)]  # queued actions (a turn, a look around, a build)
            self.stuck = np.zeros(n, dtype=int)
            self.last_move = np.zeros(n, dtype=int)
            self.chopping = np.zeros(n, dtype=int)  # steps spent on the current tree
            self.ignore = np.zeros(n, dtype=int)  # steps left to ignore logs (after giving up on a tree)
            self.aim = np.full(n, -1)  # column of the trunk aimed at, where it will be after this step's turn
            self.near = np.zeros(n, dtype=bool)  # was that trunk near (hysteresis against dithering)
        for i in np.flatnonzero(mask):
            self.pitch[i] = 0.0
            self.plan[i] = []
            self.stuck[i] = 0
            self.last_move[i] = NOOP
            self.chopping[i] = 0
            self.ignore[i] = 0
            self.aim[i] = -1
            self.near[i] = False
            if self._prev is not None:
                self._prev[i] = None

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = self._check_batch(obs)
        info = info or {}
        if self._prev is None:
            self._prev = [None] * self.num_envs
        logs, cols, count, water = _features(np.ascontiguousarray(obs, dtype=np.uint8))
        known = {k: info[k] for k in INFO_KEYS if k in info}  # each key once (a vector env's info builds arrays)
        actions = np.zeros((self.num_envs, 3), dtype=np.int64)
        for i in range(self.num_envs) if mask is None else np.flatnonzero(mask):
            seen = (logs[i], cols[i], int(count[i]), float(water[i]))
            actions[i] = self._act_one(i, obs[i], seen, {k: v[i] for k, v in known.items()})
            self.last_move[i] = actions[i, 0]
            if actions[i, 1] == PITCH_UP:
                self.pitch[i] = min(self.pitch[i] + PITCH_STEP, MAX_PITCH)
            elif actions[i, 1] == PITCH_DOWN:
                self.pitch[i] = max(self.pitch[i] - PITCH_STEP, -MAX_PITCH)
        if "blocked" not in known:  # no ground truth: the pixel test for a blocked move compares frames
            self._prev = list(obs.copy())
        return actions

    # -------------------------------------------------------------------------------------------------- logic
    def _blocked(self, i: int, frame: np.ndarray, info: dict[str, Any]) -> bool:
        if self.last_move[i] == NOOP:
            return False
        if "blocked" in info:
            return bool(info["blocked"])
        prev = self._prev[i]
        return bool(prev is not None and np.abs(frame.astype(np.int16) - prev).mean() < 1.0)

    def _act_one(self, i: int, frame: np.ndarray, seen: tuple, info: dict[str, Any]) -> np.ndarray:
        """seen: the frame's bark mask, bark per column, bark pixels, water share ahead (``_features``)."""
        logs, cols, n_logs, water_ahead = seen
        rng = self.rngs[i]
        if rng.random() < self.epsilon:
            self.plan[i] = []
            return np.array([rng.integers(5), rng.integers(5), rng.integers(4)])
        blocked = self._blocked(i, frame, info)
        self.stuck[i] = self.stuck[i] + 1 if blocked else 0
        if self.plan[i]:
            return np.array(self.plan[i].pop(0))
        h = logs.shape[0]
        if water_ahead > 0.5 and rng.random() < 0.3:  # water ahead: head for land
            turn = YAW_LEFT if rng.random() < 0.5 else YAW_RIGHT
            self.plan[i] = [[NOOP, turn, ACT_NOOP]] * int(rng.integers(2, 7) * TURN)
            return np.array([FORWARD, CAM_NOOP, JUMP])
        if self.ignore[i] > 0:
            self.ignore[i] -= 1
        elif self.chop and n_logs >= 2:
            return self._chop(i, frame, logs, cols, info, blocked)
        self.chopping[i] = 0
        self.aim[i] = -1
        self.near[i] = False
        return self._wander(i, h, blocked, info)

    def _chop(self, i: int, frame: np.ndarray, logs: np.ndarray, cols: np.ndarray, info: dict[str, Any],
              blocked: bool) -> np.ndarray:  # fmt: skip
        h, w = logs.shape
        cx = w // 2
        self.chopping[i] += 1
        if self.chopping[i] > 120:  # this tree will not come: walk away and ignore logs for a while
            self.chopping[i] = 0
            self.ignore[i] = 40
            turn = YAW_LEFT if self.rngs[i].random() < 0.5 else YAW_RIGHT
            self.plan[i] = [[NOOP, turn, ACT_NOOP]] * (6 * TURN) + [[FORWARD, CAM_NOOP, ACT_NOOP]] * 10
            return np.array([BACK, CAM_NOOP, ACT_NOOP])
        col, lo, hi, dy = _trunk(logs, cols, int(self.aim[i]))
        width = hi - lo + 1
        if "target_block" in info:
            on_log = int(info["target_block"]) == LOG
        else:  # no ground truth (a dream): bark's colour around the crosshair, on a trunk near enough to reach
            on_log = bool(log_under_crosshair(frame)) and lo <= cx <= hi and width >= w // 8
        if on_log:
            self.chopping[i] = 0
            return np.array([NOOP, CAM_NOOP, BREAK])
        near = width >= (w // 10 if self.near[i] else w // 8)  # a trunk this wide is within a few blocks
        self.near[i] = near
        dx = col - cx
        self.aim[i] = col - int(np.sign(dx)) * round(w * YAW_STEP / 70.0) if abs(dx) > w * 0.11 else col
        if abs(dx) > w * 0.11:
            return np.array([NOOP if near else FORWARD, YAW_LEFT if dx < 0 else YAW_RIGHT, ACT_NOOP])
        if near and abs(dx) > max(width // 2 - 1, 1):
            return np.array([LEFT if dx < 0 else RIGHT, CAM_NOOP, ACT_NOOP])
        if near and abs(dy) > h * 0.1:
            up = dy < 0
            if (up and self.pitch[i] < MAX_PITCH) or (not up and self.pitch[i] > -MAX_PITCH):
                return np.array([NOOP, PITCH_UP if up else PITCH_DOWN, ACT_NOOP])
        if blocked:
            if self.stuck[i] > 4:  # cannot get closer: back off and try another way
                self.plan[i] = [[BACK, CAM_NOOP, ACT_NOOP]] * 3 + [[RIGHT, CAM_NOOP, ACT_NOOP]] * 3
            return np.array([FORWARD, CAM_NOOP, JUMP])
        pitch_fix = CAM_NOOP
        if not near and self.pitch[i] != 0:
            pitch_fix = PITCH_DOWN if self.pitch[i] > 0 else PITCH_UP
        return np.array([FORWARD, pitch_fix, ACT_NOOP])

    def _wander(self, i: int, h: int, blocked: bool, info: dict[str, Any]) -> np.ndarray:
        rng = self.rngs[i]
        if blocked:
            if self.stuck[i] > 3:  # a wall or a cliff: turn away
                k = int(rng.integers(3, 9)) * TURN
                turn = YAW_LEFT if rng.random() < 0.5 else YAW_RIGHT
                self.plan[i] = [[NOOP, turn, ACT_NOOP]] * k
                return np.array([BACK, CAM_NOOP, ACT_NOOP])
            return np.array([FORWARD, CAM_NOOP, JUMP])
        u = rng.random()
        if u < 0.06:  # turn for a while
            k = int(rng.integers(1, 7)) * TURN
            turn = YAW_LEFT if rng.random() < 0.5 else YAW_RIGHT
            self.plan[i] = [[FORWARD if rng.random() < 0.5 else NOOP, turn, ACT_NOOP] for _ in range(k)]
        elif u < 0.075:  # look around: up, then down, then level again
            k = int(rng.integers(1, 4)) * TILT
            up = [[NOOP, PITCH_UP, ACT_NOOP]] * k
            down = [[NOOP, PITCH_DOWN, ACT_NOOP]] * k
            self.plan[i] = up + down + [[NOOP, CAM_NOOP, ACT_NOOP]] + down + up
        elif u < 0.09:  # dig the ground in front, then put a block back
            self.plan[i] = [[NOOP, PITCH_DOWN, ACT_NOOP]] * (3 * TILT) + [[NOOP, CAM_NOOP, BREAK]] * int(
                rng.integers(1, 3)
            )
            self.plan[i] += [[NOOP, CAM_NOOP, PLACE]] + [[NOOP, PITCH_UP, ACT_NOOP]] * (3 * TILT)
        elif u < 0.10:  # build a little: place blocks in front
            self.plan[i] = [[NOOP, PITCH_DOWN, ACT_NOOP]] * (2 * TILT) + [[NOOP, CAM_NOOP, PLACE]]
            self.plan[i] += [[BACK, CAM_NOOP, PLACE]] * int(rng.integers(1, 4)) + [[NOOP, PITCH_UP, ACT_NOOP]] * (
                2 * TILT
            )
        elif u < 0.12:  # sidestep or step back
            move = int(rng.choice([BACK, LEFT, RIGHT]))
            self.plan[i] = [[move, CAM_NOOP, ACT_NOOP]] * int(rng.integers(2, 6))
        elif u < 0.135:
            return np.array([FORWARD, CAM_NOOP, JUMP])
        if self.plan[i]:
            return np.array(self.plan[i].pop(0))
        pitch_fix = CAM_NOOP
        if self.pitch[i] != 0:
            pitch_fix = PITCH_DOWN if self.pitch[i] > 0 else PITCH_UP
        in_water = bool(info.get("in_water", False))
        return np.array([FORWARD, pitch_fix, JUMP if in_water else ACT_NOOP])
