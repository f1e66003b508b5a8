"""Speed benchmarks. Each returns a dict that the CLI prints as one JSON object on its last line."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

import worldsim  # noqa: F401  (registers the env ids)


def bench_env(env_id: str = "worldsim/Voxel-v0", steps: int = 5000, seed: int = 0, **env_kwargs) -> dict:
    """Steps/s of one env in one process with random actions, resets included (registered episode limit)."""
    env = gym.make(env_id, **env_kwargs)
    space = env.action_space
    space.seed(seed)
    actions = [space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    env.reset(seed=seed)  # warm-up: compiles (or loads the compile cache)
    first_reset = time.perf_counter() - t0

    resets, reset_time = 0, 0.0
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            t1 = time.perf_counter()
            env.reset()
            reset_time += time.perf_counter() - t1
            resets += 1
    elapsed = time.perf_counter() - t0

    u = env.unwrapped
    render_ms = None
    if hasattr(u, "_render_frame"):
        t1 = time.perf_counter()
        for _ in range(200):
            u._render_frame()
        render_ms = (time.perf_counter() - t1) / 200 * 1e3
    env.close()
    obs_shape = list(env.observation_space.shape) if env.observation_space.shape else None
    return {
        "benchmark": "env",
        "env_id": env_id,
        "obs_shape": obs_shape,
        "steps": steps,
        "resets": resets,
        "steps_per_s": round(steps / elapsed, 1),
        "mean_reset_ms": round(reset_time / max(resets, 1) * 1e3, 2),
        "render_ms": None if render_ms is None else round(render_ms, 3),
        "first_reset_s": round(first_reset, 3),
        "numpy": np.__version__,
    }
