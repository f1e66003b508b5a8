"""A saved stable-baselines3 model as a Policy.

A stable-baselines3 ``.zip`` holds pickled Python objects (SB3's own format): loading one can run any code its
author put in it. Load only zips you trust; worldsim says so whenever it loads one from outside its own runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.policies.base import Policy

ALGORITHMS = ("PPO", "A2C", "DQN", "SAC", "TD3", "DDPG")


def load_sb3_model(path: str | Path, algo: str | None = None):
    """Load a stable-baselines3 model (a .zip saved by ``model.save``), trying each algorithm if none is named."""
    import warnings

    import stable_baselines3 as sb3

    path = Path(path)
    if not path.exists() and not path.with_suffix(".zip").exists():
        raise FileNotFoundError(f"no stable-baselines3 model at {path}")
    if not path.resolve().is_relative_to(Path("runs").resolve()):  # worldsim's own PPO runs write under runs/
        warnings.warn(f"{path} is a stable-baselines3 zip: SB3 unpickles it, which can run any code in it; load only "
                      "models from sources you trust", UserWarning, stacklevel=2)  # fmt: skip
    names = [algo.upper()] if algo else list(ALGORITHMS)
    errors = []
    for name in names:
        if not hasattr(sb3, name):
            raise ValueError(f"unknown stable-baselines3 algorithm {name!r}; choose from {ALGORITHMS}")
        try:
            return getattr(sb3, name).load(path, device="cpu")
        except Exception as exc:  # the wrong class for this file, or not a model at all
            errors.append(f"{name}: {exc}")
    raise ValueError(f"{path} is not a stable-baselines3 model this can load ({'; '.join(errors)})")


class SB3Policy(Policy):
    """Acts with a saved stable-baselines3 model (``model.predict``), deterministic by default."""

    def __init__(
        self,
        action_space: gym.Space,
        num_envs: int = 1,
        seed: int | None = None,
        model=None,
        path: str | Path | None = None,
        algo: str | None = None,
        deterministic: bool = True,
    ):
        super().__init__(action_space, num_envs, seed)
        if (model is None) == (path is None):
            raise ValueError("SB3Policy needs exactly one of model= or path=")
        self.model = load_sb3_model(path, algo) if model is None else model
        if self.model.action_space != action_space:
            raise ValueError(
                f"SB3Policy: the model acts in {self.model.action_space}, but the env's action space is {action_space}"
            )
        self.deterministic = bool(deterministic)
        self.model.set_random_seed(int(self.rng.integers(2**31 - 1)))

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = self._check_batch(obs)
        actions, _ = self.model.predict(obs, deterministic=self.deterministic)
        return np.asarray(actions).reshape((self.num_envs, *self.action_space.shape))
