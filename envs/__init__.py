"""Gymnasium environments of worldsim, registered when ``worldsim`` is imported.

- ``worldsim/Voxel-v0``: the Minecraft-style voxel world (``worldsim.envs.voxel``).
"""

from __future__ import annotations

import gymnasium as gym

__all__ = ["register_envs"]


def register_envs() -> None:
    """Register every worldsim env id (idempotent; entry points are strings, so nothing heavy is imported)."""
    if "worldsim/Voxel-v0" not in gym.registry:
        gym.register(
            id="worldsim/Voxel-v0",
            entry_point="worldsim.envs.voxel.env:VoxelEnv",
            max_episode_steps=1000,
        )


register_envs()
