"""Random malformed actions and reset options through the real env, the dream env and the vector env: each is
accepted as valid or refused with a ValueError or TypeError whose message says what was wrong, never a crash from
deep inside."""

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401
from worldsim.envs.world_model_env import WorldModelEnv
from worldsim.envs.world_model_vector_env import WorldModelVectorEnv

WORDS = ("action", "option", "frames", "image", "from_scratch", "batch", "dtype", "shape", "must", "expects")


def junk(rng, depth=0):
    """A random value of a random kind, malformed more often than not."""
    kinds = ["none", "int", "float", "nan", "str", "list", "array", "dict", "bool", "bigint", "good"]
    k = kinds[rng.integers(len(kinds))]
    if k == "none":
        return None
    if k == "int":
        return int(rng.integers(-5, 10))
    if k == "float":
        return float(rng.normal() * 3)
    if k == "nan":
        return float("nan")
    if k == "str":
        return "abc"[: rng.integers(4)]
    if k == "bool":
        return bool(rng.integers(2))
    if k == "bigint":
        return 2**70
    if k == "list" and depth < 2:
        return [junk(rng, depth + 1) for _ in range(rng.integers(0, 5))]
    if k == "dict" and depth < 2:
        return {("frames", "image", "actions", "from_scratch", "x")[rng.integers(5)]: junk(rng, depth + 1)}
    shape = tuple(int(s) for s in rng.integers(0, 4, rng.integers(0, 3)))
    dtype = (np.int64, np.float32, np.uint8, np.bool_, np.complex64)[rng.integers(5)]
    if k == "good":
        return rng.integers(0, 4, 3)
    return (rng.normal(size=shape) * 4).astype(dtype)


def accepted_or_named(call, value):
    try:
        call(value)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert msg and any(w in msg for w in WORDS), f"{value!r}: unclear error {msg!r}"
    except gym.error.Error as exc:  # e.g. ResetNeeded
        assert str(exc)


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_actions_and_options(tiny_world_model, seed):
    rng = np.random.default_rng(seed)
    real = gym.make("worldsim/Voxel-v0").unwrapped
    real.reset(seed=0)
    dream = WorldModelEnv(tiny_world_model)
    dream.reset(seed=0)
    venv = WorldModelVectorEnv(2, tiny_world_model)
    venv.reset(seed=0)
    for _ in range(60):
        accepted_or_named(real.step, junk(rng))
        accepted_or_named(dream.step, junk(rng))
        accepted_or_named(venv.step, junk(rng))
        accepted_or_named(lambda o: dream.reset(seed=0, options=o), junk(rng))
        accepted_or_named(lambda o: venv.reset(seed=0, options=o), junk(rng))
