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
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from worldsim.dream import TERMINATION_THRESHOLD, Dream
from worldsim.envs.world_model_env import _load, check_compatible, start_clip


class WorldModelVectorEnv(VectorEnv):
    """``num_envs`` dreams of one world model, batched; arguments as ``WorldModelEnv``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, model=None, render_mode: str | None = None, horizon: int = 1000,
                 sampler_steps: int | None = None, context: int | None = None,
                 termination_threshold: float = TERMINATION_THRESHOLD, real_env_id: str | None = None,
                 device: str = "cpu", dtype: str | None = None, compile: bool = False,
                 dataset_root: str = "data/minari", memory: bool | None = None,
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
        self.horizon = int(horizon)
        self.dataset_root = str(dataset_root)
        self.dream = Dream(self.wm, self.num_envs, list(range(self.num_envs)), termination_threshold, memory,
                           steps=sampler_steps, context=context)  # fmt: skip
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs  # each env's own, as a single env's
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

    @property
    def sampler(self):
        """The dreams' sampler (its ``cfg``: steps, context, ...)."""
        return self.dream.sampler

    def _reset_indices(self, indices, seeds=None, options=None) -> None:
        """Start new episodes in the given envs (each with its own seed and start clip)."""
        seeds = [None] * len(indices) if seeds is None else seeds
        clips = []
        for i, s in zip(indices, seeds):
            if s is not None or self._rngs[i] is None:  # as gymnasium.Env.reset seeds a single env
                self._rngs[i], _ = seeding.np_random(s)
            frames, actions, latents, pitch = start_clip(self.wm, options, self._rngs[i], self.dream.context,
                                                         self.dataset_root)  # fmt: skip
            if frames is None:
                raise ValueError("from_scratch resets are supported by WorldModelEnv, not by the vector env")
            self.dream.seed([int(self._rngs[i].integers(2**62))], [i])
            clips.append((i, frames, actions, latents, pitch))
            self._t[i] = 0
        by_length: dict[int, list] = {}
        for item in clips:
            by_length.setdefault(len(item[1]), []).append(item)
        for group in by_length.values():  # clips of one length start together (from their latents where known)
            idx = [i for i, *_ in group]
            known = all(z is not None for *_, z, _ in group)
            self.dream.start(idx, np.stack([f for _, f, *_ in group]), np.stack([a for _, _, a, *_ in group]),
                             torch.stack([z for *_, z, _ in group]) if known else None,
                             pitch=[p for *_, p in group])  # fmt: skip
            self._frames[idx] = np.stack([f[-1] for _, f, *_ in group])

    def reset(self, *, seed: int | list | None = None, options: dict[str, Any] | None = None):
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict (or None), got {type(options).__name__}: {options!r}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None and (np.shape(mask) != (self.num_envs,) or np.asarray(mask).dtype != bool):
            raise ValueError(f"options['reset_mask'] must be {self.num_envs} booleans, got {mask!r}")
        indices = list(range(self.num_envs)) if mask is None else [int(i) for i in np.flatnonzero(mask)]
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
        out = self.dream.step(actions)  # the first bad action by its env index, and what is wrong with it
        self._frames[:] = out.frames
        self._t += 1
        rewards, terminated = out.reward.copy(), out.terminated.copy()
        truncated = self._t >= self.horizon
        info = {"reward_pred": out.reward, "termination_prob": out.termination_prob, "dream_step": self._t.copy()}
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
