"""Gymnasium environments of worldsim, registered when ``worldsim`` is imported.

- ``worldsim/Voxel-v0``: the Minecraft-style voxel world (``worldsim.envs.voxel``).
- ``worldsim/VoxelDream-v0``: the shipped voxel world model, dreamed (``worldsim.envs.world_model_env``).
- ``worldsim/Dream-v0``: any world model: ``gymnasium.make("worldsim/Dream-v0", model="runs/dit-voxel")``.

Both dream ids have a ``vector_entry_point``: ``gymnasium.make_vec(id, num_envs=16)`` gives one batched
``WorldModelVectorEnv``.
"""

from __future__ import annotations

import gymnasium as gym

__all__ = ["make_env", "register_envs", "resolve_env_id"]

VOXEL = "worldsim/Voxel-v0"  # the default real world where a world model does not name its own


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


def make_env(env_id: str, frame_shape=None, **kwargs) -> gym.Env:
    """``gym.make`` of a real env by id (either form of ``resolve_env_id``). With ``frame_shape`` (H, W, 3), an env
    whose constructor takes ``width`` and ``height`` (as the voxel world does) is asked for frames of that size;
    any other env is made as registered."""
    import inspect

    from gymnasium.envs.registration import load_env_creator

    try:
        spec = gym.spec(resolve_env_id(env_id))
    except gym.error.Error as exc:
        raise ValueError(f"unknown env id {env_id!r}: {exc}") from exc
    if frame_shape is not None:
        creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
        try:
            params = inspect.signature(creator).parameters
        except (TypeError, ValueError):
            params = {}
        if "width" in params and "height" in params:
            kwargs = {"height": int(frame_shape[0]), "width": int(frame_shape[1]), **kwargs}
    return gym.make(spec.id, **kwargs)


def real_env_of(wm) -> str:
    """The id of the real env a world model was trained on (recorded at ``worldsim encode``/``export``); the
    voxel world for models from before that was recorded."""
    return str(wm.info.get("env_id") or VOXEL)


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
