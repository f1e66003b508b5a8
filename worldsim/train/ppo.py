"""`worldsim ppo`: PPO trained only inside the dream, evaluated in the real world, against two baselines.

    worldsim ppo timesteps=50000 num_envs=16
    python examples/ppo_in_dream.py timesteps=2000        # the same

stable-baselines3 PPO learns the world's task (the voxel world's: collect wood) in ``num_envs`` batched dreams
(one model call per step); then it plays the real world the model was trained on (``env_id``). In the same run:
the random policy, the scripted explorer (voxel world), and PPO trained for the same number of steps in the real
world, each scored on the same real episodes with a 95% interval. A progress line every ``log_seconds`` (steps,
steps/s, the mean return of the last episodes). The rollout size: ``n_steps`` per env before each update (SB3's
default 2048 times 16 dreams would collect 32,768 dream steps, minutes here, before the first update). TensorBoard
logs under ``out/tb``; models as ``out/ppo_dream.zip`` and ``out/ppo_real.zip`` (and the dream-trained policy at
``checkpoints`` stages in ``out/stages``, a ladder for ``worldsim evaluate policies=[...]``); ``out/ppo.json`` with
every score and ``out/ppo.png`` (the real-world returns side by side). The dream-trained policy is also scored in
the dream (``dream_return_ppo_dream``, and which actions earned the dream's reward): a dream return far above the
real one is a hole in the dream, not skill. The PPO policies are scored as they act while learning, sampling
their actions (``deterministic=true``: their most likely action; the dream-trained one is also scored so, as
``real_return_ppo_dream_greedy``). Prints one JSON object as its last line.

``rounds=N`` (N > 1; the default 2) makes it a DIAMOND-style loop (``worldsim/train/dream_loop.py``): after each
round of ``timesteps`` PPO steps in the dream, the policy plays the real world, the world model trains on that play
(beside an anchor of general play) with its own recipe, and PPO goes on in the new dream. Each round's policy is
scored in its dream and in the real world (``loop`` in the result, ``out/loop/rounds.json``); the real-trained
baseline gets as many PPO steps as all rounds together. A loop cut off goes on after its last finished round when
run again. ``rounds=1``: PPO in the model's dream alone, without touching the model.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import worldsim  # noqa: F401
from worldsim.envs import make_env, real_env_of
from worldsim.eval.policy import mean_ci


def real_returns(policy, episodes: int, steps: int, seed: int, size: tuple[int, int],
                 env_id: str = "worldsim/Voxel-v0") -> list[float]:  # fmt: skip
    """Returns of ``policy`` (a Policy) over ``episodes`` real episodes of ``steps`` steps of ``env_id``."""
    env = make_env(env_id, (*size, 3), max_episode_steps=steps)
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


def dream_returns(agent, dreams, steps: int, seed: int, deterministic: bool = False
                  ) -> tuple[list[float], dict[str, float]]:  # fmt: skip
    """The SB3 ``agent`` (acting as it is scored in the real world) in the batched ``dreams`` (a
    ``WorldModelVectorEnv``): each dream's return over its first episode, at most ``steps`` steps, and the share of
    the dream's paid reward (the sum of |reward|) that each action earned, largest first. A dream return far above
    the real one, earned by one action, is a hole in the dream the policy found (README: what was tried)."""
    import numpy as np

    obs, _ = dreams.reset(seed=seed)
    n = dreams.num_envs
    totals, alive, paid = np.zeros(n), np.ones(n, bool), {}
    for _ in range(steps):
        actions, _ = agent.predict(obs, deterministic=deterministic)
        obs, rewards, term, trunc, _ = dreams.step(actions)
        rewards = np.where(alive, np.asarray(rewards, np.float64), 0.0)
        totals += rewards
        for a, r in zip(np.asarray(actions).reshape(n, -1), rewards):
            if r != 0:
                key = str(tuple(int(x) for x in a))
                paid[key] = paid.get(key, 0.0) + abs(float(r))
        alive &= ~(np.asarray(term) | np.asarray(trunc))
        if not alive.any():
            break
    whole = sum(paid.values()) or 1.0
    shares = {k: round(v / whole, 3) for k, v in sorted(paid.items(), key=lambda kv: -kv[1])[:5]}
    return [float(t) for t in totals], shares


def progress_callback(name: str, every_seconds: float = 10.0):
    """An SB3 callback that prints ``name``'s progress (steps, steps/s, mean return of the last 20 finished
    episodes) to stderr at most every ``every_seconds``, and once at the end."""
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback

    class Progress(BaseCallback):
        def _on_training_start(self) -> None:
            self.t0 = self.t_last = time.perf_counter()
            self.steps0 = self.model.num_timesteps  # (a learn() that goes on from an earlier one)

        def _line(self) -> None:
            eps = list(self.model.ep_info_buffer)[-20:]
            ret = f"{np.mean([e['r'] for e in eps]):.2f} over the last {len(eps)} episodes" if eps else "no episode yet"
            rate = (self.num_timesteps - self.steps0) / max(time.perf_counter() - self.t0, 1e-9)
            print(f"ppo {self.name}: {self.num_timesteps} steps, {rate:.0f} steps/s, return {ret}", file=sys.stderr,
                  flush=True)  # fmt: skip

        def _on_step(self) -> bool:
            if time.perf_counter() - self.t_last >= every_seconds:
                self.t_last = time.perf_counter()
                self._line()
            return True

        def _on_training_end(self) -> None:
            self._line()

    progress = Progress()
    progress.name = name
    return progress


def ppo_in_dream(model: str = "voxel", timesteps: int = 50000, num_envs: int = 16, horizon: int = 200,
                 eval_episodes: int = 60, eval_steps: int = 200, seed: int = 0, n_steps: int = 64,
                 batch_size: int = 256, real_baseline: bool = True, real_envs: int = 4,
                 out: str = "runs/ppo", log_seconds: float = 10.0, env_id: str | None = None,
                 checkpoints: int = 4, deterministic: bool = False, rounds: int = 2,
                 loop: dict | None = None) -> dict:  # fmt: skip
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecMonitor

    from worldsim.envs.sb3_vec_env import SB3VecEnv
    from worldsim.envs.world_model_vector_env import WorldModelVectorEnv
    from worldsim.policies import ExplorerPolicy, RandomPolicy, SB3Policy
    from worldsim.train.dream_loop import LoopConfig, loop_config, say, update_world_model

    if int(rounds) < 1:
        raise ValueError(f"rounds must be at least 1 (1: PPO in the dream alone), got {rounds}")
    loop_cfg = loop_config(loop)  # checked before minutes of training, used from the second round
    t0 = time.perf_counter()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "loop"
    dreams = WorldModelVectorEnv(num_envs, model, horizon=horizon)
    env_id = env_id or real_env_of(dreams.wm)  # the real world the policies are scored in
    size = dreams.single_observation_space.shape[:2]
    kwargs = dict(n_steps=n_steps, batch_size=batch_size, n_epochs=4, seed=seed, device="cpu", verbose=0,
                  tensorboard_log=str(out_dir / "tb"))  # fmt: skip
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

    def in_dreams(r: int):  # the SB3 view of the dreams (VecMonitor: the episode returns of the progress lines)
        venv = VecMonitor(SB3VecEnv(dreams))
        venv.seed(seed + r)
        return venv

    def trained(agent):  # the PPO policies act as they learnt, sampling their actions, unless deterministic=true
        return SB3Policy(dreams.single_action_space, model=agent, seed=seed, deterministic=deterministic)

    venv = in_dreams(0)
    dream_agent = PPO("CnnPolicy", venv, **kwargs)
    history, current, first = [], model, 0
    run = {"model": model, "timesteps": timesteps, "num_envs": num_envs, "horizon": horizon, "seed": seed,
           "loop": asdict(loop_cfg)}  # fmt: skip
    log = work / "rounds.json"  # the rounds so far: a rerun of the same command goes on after the last one
    if rounds > 1 and log.is_file():
        saved = json.loads(log.read_text())
        if isinstance(saved.get("run", {}).get("loop"), dict):  # (a loop setting added since: its default)
            saved["run"]["loop"] = json.loads(json.dumps(asdict(LoopConfig()))) | saved["run"]["loop"]
        if saved.get("run") != json.loads(json.dumps(run)):
            diff = sorted(k for k in run if json.dumps(saved.get("run", {}).get(k)) != json.dumps(run[k]))
            raise ValueError(f"{work} holds the rounds of another `worldsim ppo` run (it differs in {diff}); give "
                             "this one another out=, or delete that folder to start afresh")  # fmt: skip
        history = saved["rounds"][:rounds]  # (a run of more rounds before: its first ones)
    if history:
        first = len(history)
        current = history[-1]["model"]
        dreams.close()
        dreams = WorldModelVectorEnv(num_envs, current, horizon=horizon)
        venv = in_dreams(first - 1)
        dream_agent = PPO.load(work / f"round{first - 1}" / "ppo_dream.zip", env=venv, device="cpu",
                               tensorboard_log=kwargs["tensorboard_log"])  # fmt: skip
        say(f"going on after round {first - 1} of an earlier run ({work}): {current}")
    callbacks = [progress_callback("dream", log_seconds)]
    if checkpoints > 0:  # the policy at several stages of training: a ladder to rank (worldsim evaluate policies=)
        every = max(1, timesteps * rounds // (checkpoints * num_envs))
        callbacks.append(CheckpointCallback(every, str(out_dir / "stages"), name_prefix="ppo_dream"))
    dream_seconds = 0.0
    for r in range(first, rounds):
        if r > 0:  # the policy's real play trains the world model; PPO goes on in the new dream
            zip_path = work / f"round{r - 1}" / "ppo_dream.zip"
            current, summary = update_world_model(current, zip_path, r, loop_cfg, env_id, horizon, seed, work)
            dreams.close()
            dreams = WorldModelVectorEnv(num_envs, current, horizon=horizon)
            venv = in_dreams(r)
            dream_agent.set_env(venv)
        callbacks[0].name = "dream" if rounds == 1 else f"dream, round {r}"
        t1 = time.perf_counter()
        dream_agent.learn(total_timesteps=timesteps, tb_log_name="ppo_dream", callback=CallbackList(callbacks),
                          reset_num_timesteps=r == 0)  # fmt: skip
        dream_seconds += time.perf_counter() - t1
        if rounds > 1:  # each round scored in its own dream and in the real world; kept, so a rerun goes on
            (work / f"round{r}").mkdir(parents=True, exist_ok=True)
            dream_agent.save(work / f"round{r}" / "ppo_dream.zip")
            in_dream_r, _ = dream_returns(dream_agent, dreams, eval_steps, seed + 10_000, deterministic)
            real_r = real_returns(trained(dream_agent), eval_episodes, eval_steps, seed, size, env_id)
            entry = {"round": r, "model": current, "dream_return": mean_ci(in_dream_r), "real_return": mean_ci(real_r)}
            if r > 0:
                entry["world_model_update"] = summary
            history.append(entry)
            tmp = log.with_suffix(".partial")
            tmp.write_text(json.dumps({"run": run, "rounds": history}, indent=1, default=float))
            os.replace(tmp, log)
            say(
                f"round {r}: the policy returns {entry['dream_return']['mean']:.2f} in the dream of {current} and "
                f"{entry['real_return']['mean']:.2f} +- {entry['real_return']['ci95']:.2f} in the real world"
            )
    dream_agent.save(out_dir / "ppo_dream.zip")

    space = dreams.single_action_space
    in_dream, paid_by = dream_returns(dream_agent, dreams, eval_steps, seed + 10_000, deterministic)

    scores = {
        "ppo_dream": real_returns(trained(dream_agent), eval_episodes, eval_steps, seed, size, env_id),
        "random": real_returns(RandomPolicy(space, seed=seed), eval_episodes, eval_steps, seed, size, env_id),
    }
    try:  # the scripted explorer, where the world is the voxel world it is written for
        scores["explorer"] = real_returns(ExplorerPolicy(space, seed=seed), eval_episodes, eval_steps, seed, size,
                                          env_id)  # fmt: skip
    except ValueError:
        pass
    real_seconds = None
    if real_baseline:
        real_venv = make_vec_env(lambda: make_env(env_id, (*size, 3), max_episode_steps=horizon), n_envs=real_envs,
                                 seed=seed)  # fmt: skip
        real_agent = PPO("CnnPolicy", real_venv, **kwargs)
        t1 = time.perf_counter()
        real_agent.learn(  # as many PPO steps as the dream-trained policy had in all its rounds
            total_timesteps=timesteps * rounds, tb_log_name="ppo_real", callback=progress_callback("real", log_seconds)
        )
        real_seconds = time.perf_counter() - t1
        real_agent.save(out_dir / "ppo_real.zip")
        scores["ppo_real"] = real_returns(trained(real_agent), eval_episodes, eval_steps, seed, size, env_id)
    greedy = None
    if not deterministic:  # for the record: the dream-trained policy's most likely action every step
        greedy = real_returns(SB3Policy(space, model=dream_agent, seed=seed, deterministic=True), eval_episodes,
                              eval_steps, seed, size, env_id)  # fmt: skip
    result = {
        "benchmark": "ppo_in_dream",
        "model": model,
        "timesteps": timesteps,
        "num_envs": num_envs,
        "rounds": rounds,
        "dream_train_seconds": round(dream_seconds, 1),
        "dream_steps_per_s": round(timesteps * (rounds - first) / dream_seconds, 1) if dream_seconds else None,
        "real_train_seconds": None if real_seconds is None else round(real_seconds, 1),
        "eval_episodes": eval_episodes,
        "eval_steps": eval_steps,
        "deterministic": deterministic,
        **{f"real_return_{k}": mean_ci(v) for k, v in scores.items()},
        **({"real_return_ppo_dream_greedy": mean_ci(greedy)} if greedy is not None else {}),
        "dream_return_ppo_dream": mean_ci(in_dream),  # far above its real return: the policy found a hole
        "dream_reward_by_action": paid_by,  # (movement, camera, interaction) -> share of the dream's paid reward
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if rounds > 1:  # the loop: each round's policy in its dream and in the real world, and the final world model
        anchor = 0 if loop_cfg.anchor else loop_cfg.anchor_episodes * horizon  # (recorded once, at most this)
        result |= {"final_model": current, "loop": history, "real_steps_policy_play": (rounds - 1) *
                   loop_cfg.play_episodes * horizon, "real_steps_anchor": anchor}  # fmt: skip
    gap = result["dream_return_ppo_dream"]["mean"] - result["real_return_ppo_dream"]["mean"]
    top = next(iter(paid_by.items()), None)
    print(f"ppo: the dream-trained policy returns {result['dream_return_ppo_dream']['mean']:.2f} in the dream and "
          f"{result['real_return_ppo_dream']['mean']:.2f} in the real world"
          + (f"; {top[1]:.0%} of the dream's reward came from action {top[0]}" if top else "")
          + (" (a gap this size is a hole in the dream it learnt to exploit)" if gap > 1.0 else ""),
          file=sys.stderr, flush=True)  # fmt: skip
    (out_dir / "ppo.json").write_text(
        json.dumps(result | {"returns": scores, "dream_returns": in_dream}, indent=1, default=float)
    )
    _plot(result, scores, out_dir / "ppo.png")
    return result


def _plot(result: dict, scores: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(scores)
    stats = [result[f"real_return_{k}"] for k in names]
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=100)
    ax.bar(names, [s["mean"] for s in stats], yerr=[s["ci95"] for s in stats], capsize=6,
           color=["#5b7fbf" if k == "ppo_dream" else "#999999" for k in names])  # fmt: skip
    ax.set_ylabel("real-world return (95% CI)")
    ax.set_title(f"PPO {result['timesteps']} steps in the dream vs baselines, {result['eval_episodes']} episodes",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["dream_returns", "ppo_in_dream", "real_returns"]
