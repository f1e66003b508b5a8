"""Policies: anything that maps observations to actions, for the real world and the dream alike."""

from worldsim.policies.base import Policy, batch_info
from worldsim.policies.explorer import ExplorerPolicy
from worldsim.policies.human import HumanPolicy
from worldsim.policies.mixed import EpsilonPolicy, HoldPolicy, PausePolicy, RevisitPolicy, StillPolicy
from worldsim.policies.random import RandomPolicy
from worldsim.policies.sb3 import SB3Policy

__all__ = ["EpsilonPolicy", "ExplorerPolicy", "HoldPolicy", "HumanPolicy", "PausePolicy", "Policy", "RandomPolicy",
           "RevisitPolicy", "SB3Policy", "StillPolicy", "batch_info", "make_policy"]  # fmt: skip


def make_policy(spec: str, action_space, num_envs: int = 1, seed: int | None = None) -> Policy:
    """A policy by name: ``random``, ``explorer``, ``still`` (does nothing), ``eps:<p>:<base>`` (the base policy
    with a random action in a share p of the steps, e.g. ``eps:0.5:explorer``), ``hold:<p>:<base>`` (the base
    policy, holding *break* on for 1-4 more steps after a share p of its breaks: ``HoldPolicy``), ``revisit:<p>:<base>``
    (the base policy, breaking off in a share p of its steps to turn away and back to the same view:
    ``RevisitPolicy``), ``pause:<p>:<base>`` (the base policy, standing still for 1-24 steps from a share p of
    its steps: ``PausePolicy``), or a path to a saved stable-baselines3 model (``*.zip``: its most likely action
    every step), or ``sample:<path>.zip`` (the same model, its actions sampled from its distribution, as it acted
    while it learned: a PPO policy's scored return)."""
    if not isinstance(spec, str):
        raise TypeError(f"a policy is named by a string, got {type(spec).__name__}: {spec!r}")
    if spec == "random":
        return RandomPolicy(action_space, num_envs, seed)
    if spec == "explorer":
        return ExplorerPolicy(action_space, num_envs, seed)
    if spec == "still":
        return StillPolicy(action_space, num_envs, seed)
    for prefix, wrapper, what in (("eps", EpsilonPolicy, "share of random steps"),
                                  ("hold", HoldPolicy, "share of breaks held on"),
                                  ("revisit", RevisitPolicy, "share of steps that start a look-away"),
                                  ("pause", PausePolicy, "share of steps that start a pause")):  # fmt: skip
        if spec.startswith(prefix + ":"):
            parts = spec.split(":", 2)
            try:
                share = float(parts[1])
            except (IndexError, ValueError):
                parts = []
            if len(parts) != 3:
                raise ValueError(f"policy {spec!r}: write {prefix}:<{what}>:<base policy>, e.g. {prefix}:0.5:explorer")
            return wrapper(make_policy(parts[2], action_space, num_envs, seed), share, num_envs, seed)
    if spec.startswith("sample:"):
        path = spec.split(":", 1)[1]
        if not path.endswith(".zip"):
            raise ValueError(f"policy {spec!r}: write sample:<path of a stable-baselines3 .zip>")
        return SB3Policy(action_space, num_envs, seed, path=path, deterministic=False)
    if spec.endswith(".zip"):
        return SB3Policy(action_space, num_envs, seed, path=spec)
    raise ValueError(f"unknown policy {spec!r}: use random, explorer, still, eps:<p>:<base>, hold:<p>:<base>, "
                     "revisit:<p>:<base>, pause:<p>:<base>, "
                     "the path of a stable-baselines3 .zip or sample:<that path>")  # fmt: skip
