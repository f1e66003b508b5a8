"""Policies: anything that maps observations to actions, for the real world and the dream alike."""

from worldsim.policies.base import Policy, batch_info
from worldsim.policies.explorer import ExplorerPolicy
from worldsim.policies.random import RandomPolicy

__all__ = ["ExplorerPolicy", "Policy", "RandomPolicy", "batch_info"]
