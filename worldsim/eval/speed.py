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


def _env_only(cfg, plan) -> tuple[int, float]:
    """Step the plan's episodes with their policies and nothing else; (frames, seconds)."""
    from worldsim.data.record import make_recording_env
    from worldsim.policies import make_policy

    env = make_recording_env(cfg.env_id, cfg.env_kwargs, cfg.max_episode_steps)
    frames, elapsed = 0, 0.0
    for _, ep_seed, name in plan:
        policy = make_policy(name, env.action_space, 1, seed=ep_seed)
        obs, info = env.reset(seed=ep_seed)
        t0 = time.perf_counter()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act_single(obs, info))
            frames += 1
            done = terminated or truncated
        elapsed += time.perf_counter() - t0
    env.close()
    return frames, elapsed


def bench_record(episodes: int = 32, processes: int = 2, envs_per_process: int = 2, seed: int = 0,
                 policies: dict | None = None, max_episode_steps: int = 1000) -> dict:  # fmt: skip
    """Recording throughput against the env's own speed on the same episodes (seeds and policies).

    ``env_frames_per_s`` steps the recipe's episodes with their policies and nothing else, in ``processes``
    processes at once (so both see the same machine load), summing each process's frames/s;
    ``record_frames_per_s`` is `worldsim record` on ``processes`` processes writing a real dataset (start-up
    included); ``efficiency`` = record / env. ``env_benchmark_steps_per_s`` is `bench env` (random actions) for
    comparison.
    """
    import multiprocessing as mp
    import tempfile

    from worldsim.data.record import RecordConfig, episode_plan, record

    policies = dict(policies or {"explorer": 0.8, "random": 0.2})
    cfg = RecordConfig(episodes=episodes, processes=processes, envs_per_process=envs_per_process, seed=seed,
                       policies=policies, max_episode_steps=max_episode_steps, progress=False)  # fmt: skip
    plan = episode_plan(cfg)
    with mp.get_context("fork").Pool(processes) as pool:
        parts = pool.starmap(_env_only, [(cfg, plan[r::processes]) for r in range(processes)])
    env_fps = sum(f / t for f, t in parts)
    with tempfile.TemporaryDirectory() as root:
        cfg.root = root
        cfg.dataset_id = "bench/record-v0"
        summary = record(cfg)
    return {
        "benchmark": "record",
        "processes": summary["processes"],
        "episodes": summary["episodes"],
        "frames": summary["frames"],
        "env_frames_per_s": round(env_fps, 1),
        "record_frames_per_s": summary["frames_per_s"],
        "efficiency": round(summary["frames_per_s"] / env_fps, 3),
        "env_benchmark_steps_per_s": bench_env(steps=3000, seed=seed)["steps_per_s"],
    }
