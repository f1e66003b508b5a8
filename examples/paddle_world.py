"""A small pixel world that worldsim does not know, for the README's walk-through: bring your own env.

    PYTHONPATH=examples worldsim record env_id=paddle_world:Paddle-v0 ...

A square paddle on a dark field, steered by a continuous 2-D action (``Box(-1, 1, (2,))``: its velocity), chases
a dot; touching the dot gives +1 and the dot jumps elsewhere. Frames are 48 x 80 (height x width) by default, not
the voxel world's 64 x 64; ``width``/``height`` change them. Importing this module registers ``Paddle-v0``, which is
what Gymnasium's ``module:Env-vN`` form (``paddle_world:Paddle-v0``) relies on.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class PaddleEnv(gym.Env):
    """Steer the paddle onto the dot: +1 per dot caught. Observation uint8 (height, width, 3)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, height: int = 48, width: int = 80, render_mode: str | None = None):
        self.height, self.width, self.render_mode = int(height), int(width), render_mode
        self.size = max(3, self.height // 8)  # paddle side, pixels
        self.observation_space = gym.spaces.Box(0, 255, (self.height, self.width, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.pos = np.zeros(2)
        self.dot = np.zeros(2)

    def _new_dot(self) -> None:
        self.dot = self.np_random.uniform([2, 2], [self.height - 3, self.width - 3])

    def _frame(self) -> np.ndarray:
        f = np.empty((self.height, self.width, 3), np.uint8)
        f[:] = (20, 24, 40)
        f[self.height // 2 :] = (26, 32, 48)  # a floor, so that the picture has some structure
        y, x = self.pos.astype(int)
        f[y : y + self.size, x : x + self.size] = (230, 180, 40)
        dy, dx = self.dot.astype(int)
        f[dy - 1 : dy + 2, dx - 1 : dx + 2] = (80, 220, 120)
        return f

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform([0, 0], [self.height - self.size, self.width - self.size])
        self._new_dot()
        return self._frame(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.pos = np.clip(self.pos + 3.0 * a, 0, [self.height - self.size, self.width - self.size])
        centre = self.pos + self.size / 2
        reward = 0.0
        if np.all(np.abs(centre - self.dot) <= self.size / 2 + 1):
            reward = 1.0
            self._new_dot()
        return self._frame(), reward, False, False, {}

    def render(self):
        return self._frame() if self.render_mode == "rgb_array" else None


if "Paddle-v0" not in gym.registry:
    gym.register("Paddle-v0", entry_point="paddle_world:PaddleEnv", max_episode_steps=200)
