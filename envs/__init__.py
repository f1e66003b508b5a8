"""Gymnasium environments of worldsim, registered when ``worldsim`` is imported.

- ``worldsim/Voxel-v0``: the Minecraft-style voxel world (``worldsim.envs.voxel``).
- ``worldsim/VoxelDream-v0``: the shipped voxel world model, dreamed (``worldsim.envs.world_model_env``).
- ``worldsim/Dream-v0``: any world model: ``gymnasium.make("worldsim/Dream-v0", model="runs/dit-voxel")``.

Both dream ids have a ``vector_entry_point``: ``gymnasium.make_vec(id, num_envs=16)`` gives one batched
``WorldModelVectorEnv``.
"""

from __future__ import annotations

import gymnasium as gym

__all__ = ["register_envs", "resolve_env_id"]


def resolve_env_id(env_id: str) -> str:
    """The registered id of ``env_id``, importing the module of Gymnasium's ``module:Env-vN`` form first (which
    registers the user's env). ``gym.make`` takes either form; ``gym.spec`` only the bare id."""
    import importlib

    if ":" not in str(env_id):
        return str(env_id)
    module, name = str(env_id).split(":", 1)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"env id {env_id!r}: cannot import module {module!r} ({exc})") from exc
    return name


def register_envs() -> None:
    """Register every worldsim env id (idempotent; entry points are strings, so nothing heavy is imported)."""
    if "worldsim/Voxel-v0" not in gym.registry:
        gym.register(
            id="worldsim/Voxel-v0",
            entry_point="worldsim.envs.voxel.env:VoxelEnv",
            max_episode_steps=1000,
        )
    dream = {"entry_point": "worldsim.envs.world_model_env:WorldModelEnv",
             "vector_entry_point": "worldsim.envs.world_model_vector_env:WorldModelVectorEnv"}  # fmt: skip
    if "worldsim/VoxelDream-v0" not in gym.registry:
        gym.register(
            id="worldsim/VoxelDream-v0", kwargs={"model": "voxel", "real_env_id": "worldsim/Voxel-v0"}, **dream
        )
    if "worldsim/Dream-v0" not in gym.registry:
        gym.register(id="worldsim/Dream-v0", **dream)


register_envs()
