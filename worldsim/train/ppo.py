"""`worldsim ppo`: PPO trained only inside the dream, evaluated in the real world, against two baselines.

    worldsim ppo timesteps=50000 num_envs=16
    python examples/ppo_in_dream.py timesteps=2000        # the same

stable-baselines3 PPO learns the collect-wood task in ``num_envs`` batched dreams (one model call per step);
then it plays the real ``worldsim/Voxel-v0``. In the same run: the random policy, and PPO trained for the same
number of steps in the real world. TensorBoard logs under ``out/tb``; models as ``out/ppo_dream.zip`` and
``out/ppo_real.zip``; ``out/ppo.json`` with every score. Prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gymnasium as gym

import worldsim  # noqa: F401
from worldsim.eval.policy import mean_ci


def real_returns(policy, episodes: int, steps: int, seed: int, size: tuple[int, int]) -> list[float]:
    """Returns of ``policy`` (a Policy) over ``episodes`` real episodes of ``steps`` steps."""
    env = gym.make("worldsim/Voxel-v0", width=size[1], height=size[0], max_episode_steps=steps)
    out = []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        policy.reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, info = env.step(policy.act_single(obs, info))
            total += float(r)
            done = term or trunc
        out.append(total)
    return out


def ppo_in_dream(model: str = "voxel", timesteps: int = 50000, num_envs: int = 16, horizon: int = 200,
                 eval_episodes: int = 10, eval_steps: int = 200, seed: int = 0, n_steps: int = 64,
                 batch_size: int = 256, real_baseline: bool = True, real_envs: int = 4,
                 out: str = "runs/ppo") -> dict:  # fmt: skip
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from worldsim.envs.sb3_vec_env import SB3VecEnv
    from worldsim.envs.world_model_vector_env import WorldModelVectorEnv
    from worldsim.policies import RandomPolicy, SB3Policy

    t0 = time.perf_counter()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    venv = SB3VecEnv(WorldModelVectorEnv(num_envs, model, horizon=horizon))
    venv.seed(seed)
    size = venv.observation_space.shape[:2]
    kwargs = dict(n_steps=n_steps, batch_size=batch_size, n_epochs=4, seed=seed, device="cpu", verbose=0,
                  tensorboard_log=str(out_dir / "tb"))  # fmt: skip
    dream_agent = PPO("CnnPolicy", venv, **kwargs)
    t1 = time.perf_counter()
    dream_agent.learn(total_timesteps=timesteps, tb_log_name="ppo_dream")
    dream_seconds = time.perf_counter() - t1
    dream_agent.save(out_dir / "ppo_dream.zip")

    space = venv.action_space
    scores = {
        "ppo_dream": real_returns(
            SB3Policy(space, model=dream_agent, seed=seed), eval_episodes, eval_steps, seed, size
        ),
        "random": real_returns(RandomPolicy(space, seed=seed), eval_episodes, eval_steps, seed, size),
    }
    real_seconds = None
    if real_baseline:
        real_venv = make_vec_env(
            "worldsim/Voxel-v0",
            n_envs=real_envs,
            seed=seed,
            env_kwargs={"width": size[1], "height": size[0], "max_episode_steps": horizon},
        )
        real_agent = PPO("CnnPolicy", real_venv, **kwargs)
        t1 = time.perf_counter()
        real_agent.learn(total_timesteps=timesteps, tb_log_name="ppo_real")
        real_seconds = time.perf_counter() - t1
        real_agent.save(out_dir / "ppo_real.zip")
        scores["ppo_real"] = real_returns(SB3Policy(space, model=real_agent, seed=seed), eval_episodes, eval_steps,
                                          seed, size)  # fmt: skip
    result = {
        "benchmark": "ppo_in_dream",
        "model": model,
        "timesteps": timesteps,
        "num_envs": num_envs,
        "dream_train_seconds": round(dream_seconds, 1),
        "dream_steps_per_s": round(timesteps / dream_seconds, 1),
        "real_train_seconds": None if real_seconds is None else round(real_seconds, 1),
        "eval_episodes": eval_episodes,
        "eval_steps": eval_steps,
        **{f"real_return_{k}": mean_ci(v) for k, v in scores.items()},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "ppo.json").write_text(json.dumps(result | {"returns": scores}, indent=1, default=float))
    return result


__all__ = ["ppo_in_dream", "real_returns"]
