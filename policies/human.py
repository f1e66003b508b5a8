"""A person at the keyboard and mouse as a Policy for the voxel world (and its dream).

WASD move, arrow keys or the mouse look, space jumps, left click breaks, right click places. The policy keeps
the input state from the pygame events it is handed (``handle_event``), so it works under a real window and,
with scripted events, headless (SDL_VIDEODRIVER=dummy).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.policies.base import Policy

MOVE_KEYS = {"w": 1, "s": 2, "a": 3, "d": 4}  # movement column: forward, back, strafe left, strafe right
LOOK_KEYS = {"left": 1, "right": 2, "up": 3, "down": 4}  # camera column: yaw left/right, pitch up/down


def action_from_input(keys: set[str], left_click: bool = False, right_click: bool = False, mouse_dx: float = 0.0,
                      mouse_dy: float = 0.0, mouse_threshold: float = 4.0) -> np.ndarray:  # fmt: skip
    """The voxel action for the keys held (pygame key names) and the mouse this frame."""
    move = next((v for k, v in MOVE_KEYS.items() if k in keys), 0)
    cam = next((v for k, v in LOOK_KEYS.items() if k in keys), 0)
    if cam == 0 and max(abs(mouse_dx), abs(mouse_dy)) >= mouse_threshold:
        if abs(mouse_dx) >= abs(mouse_dy):
            cam = 2 if mouse_dx > 0 else 1
        else:
            cam = 4 if mouse_dy > 0 else 3  # screen y grows downward: moving the mouse down looks down
    act = 2 if left_click else 3 if right_click else 1 if "space" in keys else 0
    return np.array([move, cam, act], dtype=np.int64)


class HumanPolicy(Policy):
    """Actions from a person's input; every env of the batch gets the same action."""

    def __init__(self, action_space: gym.Space, num_envs: int = 1, seed: int | None = None,
                 mouse_threshold: float = 4.0):  # fmt: skip
        if not (isinstance(action_space, gym.spaces.MultiDiscrete) and tuple(action_space.nvec) == (5, 5, 4)):
            raise ValueError(f"HumanPolicy drives the voxel world's MultiDiscrete([5, 5, 4]), got {action_space}")
        super().__init__(action_space, num_envs, seed)
        self.mouse_threshold = mouse_threshold
        self.keys: set[str] = set()
        self.clicks = [False, False]
        self.mouse = [0.0, 0.0]

    def handle_event(self, event) -> None:
        """Update the input state from one pygame event."""
        import pygame

        if event.type == pygame.KEYDOWN:
            self.keys.add(pygame.key.name(event.key))
        elif event.type == pygame.KEYUP:
            self.keys.discard(pygame.key.name(event.key))
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button in (1, 3):
            self.clicks[event.button == 3] = True
        elif event.type == pygame.MOUSEMOTION:
            self.mouse[0] += event.rel[0]
            self.mouse[1] += event.rel[1]

    def act(self, obs: np.ndarray, info: dict[str, Any] | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        self._check_batch(obs)
        a = action_from_input(self.keys, self.clicks[0], self.clicks[1], *self.mouse, self.mouse_threshold)
        self.clicks = [False, False]  # a click is one action, holding a key repeats
        self.mouse = [0.0, 0.0]
        return np.repeat(a[None], self.num_envs, axis=0)
