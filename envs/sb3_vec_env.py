"""A ``WorldModelVectorEnv`` as a stable-baselines3 ``VecEnv``: one batched model call per step, no process per env.

    from stable_baselines3 import PPO
    PPO("CnnPolicy", SB3VecEnv(WorldModelVectorEnv(16, "voxel"))).learn(10_000)

SB3's convention is Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the next episode's
first frame, the last frame in ``infos[i]["terminal_observation"]``; the adapter switches the vector env to it.
"""

from __future__ import annotations

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from worldsim.envs.world_model_vector_env import WorldModelVectorEnv


class SB3VecEnv(VecEnv):
    """stable-baselines3's ``VecEnv`` interface over the batched dream ``venv``."""

    def __init__(self, venv: WorldModelVectorEnv):
        if not isinstance(venv, WorldModelVectorEnv):
            raise TypeError(f"SB3VecEnv wraps a WorldModelVectorEnv, got {type(venv).__name__}")
        venv.metadata = {**venv.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions = None
        self._seeds: list | None = None

    def reset(self):
        obs, _ = self.venv.reset(seed=self._seeds)
        self._seeds = None
        return obs

    def seed(self, seed=None):
        self._seeds = None if seed is None else [seed + i for i in range(self.num_envs)]
        return self._seeds

    def step_async(self, actions):
        self._actions = actions

    def step_wait(self):
        obs, rew, term, trunc, info = self.venv.step(self._actions)
        done = term | trunc
        infos = [{"TimeLimit.truncated": bool(trunc[i] and not term[i])} for i in range(self.num_envs)]
        for i in np.flatnonzero(done):
            infos[i]["terminal_observation"] = info["final_obs"][i]
        return obs, rew.astype(np.float32), done, infos

    def close(self):
        self.venv.close()

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name, value, indices=None):
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self.venv, method_name)(*args, **kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False for _ in self._get_indices(indices)]

    def get_images(self):
        return list(self.venv.frames)
