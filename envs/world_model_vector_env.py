"""N dreams stepped in one batched model call: a Gymnasium VectorEnv (and, in ``sb3_vec_env.py``, the same as a
stable-baselines3 VecEnv).

    envs = gymnasium.make_vec("worldsim/VoxelDream-v0", num_envs=16)     # WorldModelVectorEnv
    venv = SB3VecEnv(envs)                                               # PPO("CnnPolicy", venv) trains on it

Each env resets on its own, in Gymnasium's autoreset modes: NEXT_STEP (the default: the step after an episode ends
returns the first frame of the next one and ignores that action) or SAME_STEP (the step that ends an episode
returns the next one's first frame, the last frame in ``info["final_obs"]``). ``restart(indices)`` starts new
episodes in some envs at once. Sub-env i seeded with s behaves as ``WorldModelEnv`` seeded with s.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from worldsim.envs.world_model_env import WorldModelEnv, _load, check_compatible


class WorldModelVectorEnv(VectorEnv):
    """``num_envs`` dreams of one world model, batched; arguments as ``WorldModelEnv``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, model=None, render_mode: str | None = None, horizon: int = 1000,
                 sampler_steps: int | None = None, context: int | None = None,
                 termination_threshold: float = 0.5, real_env_id: str | None = None, device: str = "cpu",
                 dtype: str | None = None, compile: bool = False, dataset_root: str = "data/minari",
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP):  # fmt: skip
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be next_step or same_step, got {autoreset_mode!r}")
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"WorldModelVectorEnv renders rgb_array only, got {render_mode!r}")
        self.wm = _load(model, device, dtype, compile)
        if real_env_id is not None:
            check_compatible(self.wm, real_env_id)
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.horizon, self.termination_threshold = int(horizon), float(termination_threshold)
        # one single env per slot keeps each env's RNG and its start-clip logic, without a sampler of its own
        self._singles = [WorldModelEnv.__new__(WorldModelEnv) for _ in range(self.num_envs)]
        overrides = {k: v for k, v in (("steps", sampler_steps), ("context", context)) if v is not None}
        self.sampler = self.wm.sampler(batch=self.num_envs, seeds=list(range(self.num_envs)), **overrides)
        for e in self._singles:
            e.wm, e.sampler, e.dataset_root = self.wm, self.sampler, str(dataset_root)
        self.single_observation_space = gym.spaces.Box(0, 255, self.wm.frame_shape, np.uint8)
        self.single_action_space = self.wm.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._frames = np.zeros((self.num_envs, *self.wm.frame_shape), np.uint8)
        self._t = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    # ---------------------------------------------------------------------------------------------- reset
    @property
    def frames(self) -> np.ndarray:
        """The frame each env shows now (num_envs, H, W, 3), a copy."""
        return self._frames.copy()

    def restart(self, indices, seeds=None) -> np.ndarray:
        """Start new episodes in envs ``indices`` now (each with its own seed and start clip); returns their first
        frames. The envs' pending NEXT_STEP resets are dropped."""
        indices = [int(i) for i in indices]
        self._reset_indices(indices, seeds)
        self._needs_reset[indices] = False
        return self._frames[indices].copy()

    def _reset_indices(self, indices, seeds=None, options=None) -> None:
        """Start new episodes in the given envs (each with its own seed and start clip)."""
        seeds = [None] * len(indices) if seeds is None else seeds
        scratch, clips = [], []
        for i, s in zip(indices, seeds):
            single = self._singles[i]
            gym.Env.reset(single, seed=s)
            frames, actions = single.start_clip(options)
            self.sampler.seed([int(single.np_random.integers(2**62))], [i])
            (scratch if frames is None else clips).append((i, frames, actions))
            self._t[i] = 0
        if scratch:
            idx = [i for i, _, _ in scratch]
            self.sampler.reset(idx)
            first = self._first_frames(idx)
            self._frames[idx] = first
        by_length: dict[int, list] = {}
        for item in clips:
            by_length.setdefault(len(item[1]), []).append(item)
        for length, group in by_length.items():  # clips of one length reset together
            idx = [i for i, _, _ in group]
            z = self.wm.encode(np.stack([f for _, f, _ in group]))
            acts = torch.as_tensor(np.stack([a for _, _, a in group]), dtype=torch.float32)
            self.sampler.reset(idx, z, acts if length > 1 else None)
            self._frames[idx] = np.stack([f[-1] for _, f, _ in group])

    def _first_frames(self, idx) -> np.ndarray:
        """Generate first frames from nothing for envs ``idx`` (the others are stepped and restored)."""
        raise ValueError("from_scratch resets are supported by WorldModelEnv, not by the vector env")

    def reset(self, *, seed: int | list | None = None, options: dict[str, Any] | None = None):
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict (or None), got {type(options).__name__}: {options!r}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None and (np.shape(mask) != (self.num_envs,) or np.asarray(mask).dtype != bool):
            raise ValueError(f"options['reset_mask'] must be {self.num_envs} booleans, got {mask!r}")
        indices = list(range(self.num_envs)) if mask is None else list(np.flatnonzero(mask))
        if seed is None:
            seeds = [None] * len(indices)
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in indices]
        else:
            if len(seed) != self.num_envs:
                raise ValueError(f"reset: {len(seed)} seeds for {self.num_envs} envs")
            seeds = [seed[i] for i in indices]
        self._reset_indices(indices, seeds, options or None)
        self._needs_reset[indices] = False
        self._started = True
        return self._frames.copy(), {}

    # ----------------------------------------------------------------------------------------------- step
    def step(self, actions):
        if not self._started:
            raise gym.error.ResetNeeded("WorldModelVectorEnv: call reset() before step()")
        if actions is None or np.ndim(actions) == 0:
            raise TypeError(f"step expects a batch of {self.num_envs} actions of {self.single_action_space}, "
                            f"got {actions!r}")  # fmt: skip
        if len(actions) != self.num_envs:
            raise ValueError(f"step expects {self.num_envs} actions, one per env, got {len(actions)}")
        flat = self.wm.flat_actions(actions)  # the first bad action by its env index, and what is wrong with it
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        z, r, p = self.sampler.step(flat)
        self._frames[:] = self.wm.decode(z)
        self._t += 1
        r, p = r.cpu().numpy(), p.cpu().numpy()  # results leave the device here, at the env boundary
        rewards[:] = r
        terminated[:] = p > self.termination_threshold
        truncated[:] = self._t >= self.horizon
        info = {"reward_pred": r.astype(np.float64), "termination_prob": p.astype(np.float64),
                "dream_step": self._t.copy()}  # fmt: skip
        ended = terminated | truncated
        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            if ended.any():  # the next episodes start in this very step; the last frames go in the info
                final = np.empty(self.num_envs, dtype=object)
                for i in np.flatnonzero(ended):
                    final[i] = self._frames[i].copy()
                info["final_obs"], info["_final_obs"] = final, ended.copy()
                self._reset_indices(list(np.flatnonzero(ended)))
            return self._frames.copy(), rewards, terminated, truncated, info
        # NEXT_STEP: envs whose episode ended on the previous step start their next episode now
        restart = np.flatnonzero(self._needs_reset)
        if len(restart):
            self._reset_indices(list(restart))
            rewards[restart], terminated[restart], truncated[restart] = 0.0, False, False
            info["dream_step"] = self._t.copy()
        self._needs_reset = terminated | truncated
        return self._frames.copy(), rewards, terminated, truncated, info

    def render(self):
        return self._frames.copy() if self.render_mode == "rgb_array" else None


def __getattr__(name: str):
    """``SB3VecEnv`` lives in ``sb3_vec_env.py`` (it imports stable-baselines3); it is importable from here too."""
    if name == "SB3VecEnv":
        from worldsim.envs.sb3_vec_env import SB3VecEnv

        return SB3VecEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
