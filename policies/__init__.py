"""Policies: anything that maps observations to actions, for the real world and the dream alike."""

from worldsim.policies.base import Policy, batch_info
from worldsim.policies.explorer import ExplorerPolicy
from worldsim.policies.human import HumanPolicy
from worldsim.policies.random import RandomPolicy
from worldsim.policies.sb3 import SB3Policy

__all__ = ["ExplorerPolicy", "HumanPolicy", "Policy", "RandomPolicy", "SB3Policy", "batch_info", "make_policy"]


def make_policy(spec: str, action_space, num_envs: int = 1, seed: int | None = None) -> Policy:
    """A policy by name: ``random``, ``explorer``, or a path to a saved stable-baselines3 model (``*.zip``)."""
    if spec == "random":
        return RandomPolicy(action_space, num_envs, seed)
    if spec == "explorer":
        return ExplorerPolicy(action_space, num_envs, seed)
    if spec.endswith(".zip"):
        return SB3Policy(action_space, num_envs, seed, path=spec)
    raise ValueError(f"unknown policy {spec!r}: use 'random', 'explorer' or the path of a stable-baselines3 .zip")
