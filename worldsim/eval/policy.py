"""`worldsim evaluate`: score a policy in the real world and in the dream, from the same seeds and start clips.

    worldsim evaluate policy=explorer episodes=10
    worldsim evaluate policy=runs/ppo/ppo_dream.zip model=voxel steps=300
    worldsim evaluate policies=[still,random,eps:0.5:explorer,explorer] episodes=20   # do both worlds rank them alike?

Episode i (seed ``seed + i``): the policy plays the real voxel world for ``context - 1`` steps to make a start
clip; from there it plays ``steps`` more steps in the real world, and, from the very same clip, ``steps`` steps in
the dream (all dream episodes in one batch; the dream's reward and termination come from the model's heads). It
acts on the frames alone in both worlds, as a dream gives nothing else: a policy that also reads the real env's
``info`` (the scripted explorer can) would be another, better informed policy in the real world; with
``real_info=True`` it reads it there.
Reports mean return with a 95% confidence interval (Student's t) in each world, episode lengths and the
dream-minus-real gap; writes ``evaluate.json``, a bar chart ``returns.png`` and side-by-side videos of the first
episodes. With ``policies``, every policy in the list plays so, and the two worlds' rankings are compared
(Spearman's rank correlation of the mean returns; ``ranking.json``, ``ranking.png``). Prints one JSON object as its
last line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import worldsim  # noqa: F401
from worldsim.dream import Dream
from worldsim.envs import make_env, real_env_of
from worldsim.policies import make_policy


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean and the half-width of its two-sided confidence interval (Student's t; 0 for fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    half = 0.0 if n < 2 else float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return {
        "mean": float(x.mean()),
        "ci95": half,
        "low": float(x.mean() - half),
        "high": float(x.mean() + half),
        "n": n,
    }


def play_both(wm, real_env, policy: str, episodes: int, steps: int, seed: int, videos: int = 0,
              sampler_steps: int | None = None, real_info: bool = False) -> dict:  # fmt: skip
    """Play ``policy`` for ``episodes`` episodes in the real world and in the dream from the same start clips
    (module doc); returns each world's returns and lengths, how many steps each world paid a positive and a
    negative reward (``paid_steps``: where a gap in return comes from), and, for the first ``videos`` episodes,
    their frames.
    ``real_info``: the policy reads the real env's ``info`` there (the dream has none)."""
    space = real_env.action_space
    seen = (lambda info: info) if real_info else (lambda info: None)
    ctx = wm.window - 1
    clips, clip_actions, real_returns, real_lengths, real_frames = [], [], [], [], []
    paid = {w: {"positive": 0, "negative": 0} for w in ("real", "dream")}  # rewarded steps, by sign
    for i in range(episodes):
        pol = make_policy(policy, space, 1, seed=seed + i)
        obs, info = real_env.reset(seed=seed + i)
        frames, acts = [obs], []
        for _ in range(ctx - 1):
            a = pol.act_single(obs, seen(info))
            obs, _, _, _, info = real_env.step(a)
            frames.append(obs)
            acts.append(a)
        clips.append(np.stack(frames))
        clip_actions.append(np.stack(acts))
        total, length, shown = 0.0, 0, [obs]
        for _ in range(steps):
            obs, r, term, trunc, info = real_env.step(pol.act_single(obs, seen(info)))
            total += float(r)
            paid["real"]["positive"] += int(r > 0)
            paid["real"]["negative"] += int(r < 0)
            length += 1
            shown.append(obs)
            if term or trunc:
                break
        real_returns.append(total)
        real_lengths.append(length)
        if i < videos:
            real_frames.append(np.stack(shown))

    # the dream: the same clips, all episodes in one batch, ended by the dream's one termination rule
    dream = Dream(wm, episodes, seeds=[seed + i for i in range(episodes)], steps=sampler_steps)
    flat = wm.flat_action_runs(np.stack(clip_actions))
    dream.start(range(episodes), np.stack(clips), flat, pitch=[0] * episodes)  # (the clips start at a reset: level)
    dream_pol = make_policy(policy, space, episodes, seed=seed)
    obs = np.stack([c[-1] for c in clips])
    alive = np.ones(episodes, dtype=bool)
    dream_returns, dream_lengths = np.zeros(episodes), np.zeros(episodes, dtype=int)
    dream_frames = [[c[-1]] for c in clips[:videos]]
    for _ in range(steps):
        stepped = dream.step(dream_pol.act(obs, None))
        obs = stepped.frames
        dream_returns += stepped.reward * alive
        paid["dream"]["positive"] += int(((stepped.reward > 0) & alive).sum())
        paid["dream"]["negative"] += int(((stepped.reward < 0) & alive).sum())
        dream_lengths += alive
        for k in range(min(videos, episodes)):
            if alive[k]:
                dream_frames[k].append(obs[k])
        alive &= ~stepped.terminated
        if not alive.any():
            break
    return {"real_returns": real_returns, "real_lengths": real_lengths, "dream_returns": dream_returns.tolist(),
            "dream_lengths": dream_lengths.tolist(), "paid_steps": paid, "real_frames": real_frames,
            "dream_frames": [np.stack(f) for f in dream_frames]}  # fmt: skip


def evaluate_policy(policy: str = "explorer", model: str = "voxel", episodes: int = 10, steps: int = 200,
                    seed: int = 0, videos: int = 2, sampler_steps: int | None = None,
                    out: str = "outputs/evaluate", env_id: str | None = None, device: str = "cpu",
                    dtype: str | None = None, compile: bool = False, policies: list | None = None,
                    real_info: bool = False, std_floor: float | None = None, mean_band: float | None = None,
                    memory: bool | None = None) -> dict:  # fmt: skip
    """One policy in both worlds (``policy``), or, with ``policies``, several ranked in both (``rank_policies``).
    ``std_floor``: None the model's contrast floor, 0 none, a quantile sets one (``WorldModel.set_std_floor``);
    ``mean_band`` the same for the colour band (``WorldModel.set_mean_band``).
    ``memory``: the dreams' view memory (``worldsim.memory``; None: where the world declares one, False: off)."""
    from worldsim.utils.media import write_video
    from worldsim.world_model import load_world_model

    if episodes < 1 or steps < 1:
        raise ValueError(f"episodes and steps must be at least 1, got episodes={episodes}, steps={steps}")
    t0 = time.perf_counter()
    wm = load_world_model(model, device=device, dtype=dtype, compile=compile)
    wm.memory = memory
    wm.set_sampler_limits(std_floor, mean_band)
    h, w, _ = wm.frame_shape
    real_env = make_env(env_id or real_env_of(wm), wm.frame_shape)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if policies:
        return rank_policies(wm, real_env, list(policies), episodes, steps, seed, sampler_steps, out_dir, model, t0,
                             real_info)  # fmt: skip
    played = play_both(wm, real_env, policy, episodes, steps, seed, videos, sampler_steps, real_info)
    video_paths = []
    for k, (real, dreamed) in enumerate(zip(played["real_frames"], played["dream_frames"])):
        n = min(len(real), len(dreamed))
        side = np.concatenate([real[:n], np.full((n, h, 2, 3), 255, np.uint8), dreamed[:n]], 2)
        video_paths.append(str(write_video(out_dir / f"episode{k}_real_vs_dream.mp4", side, fps=20, scale=4)))
    real_stats, dream_stats = mean_ci(played["real_returns"]), mean_ci(played["dream_returns"])
    result = {
        "benchmark": "evaluate",
        "policy": policy,
        "model": model,
        "episodes": episodes,
        "steps": steps,
        "real_info": real_info,
        "real_return": real_stats,
        "dream_return": dream_stats,
        "gap_dream_minus_real": dream_stats["mean"] - real_stats["mean"],
        "paid_steps": played["paid_steps"],
        "real_lengths": played["real_lengths"],
        "dream_lengths": played["dream_lengths"],
        "real_returns": played["real_returns"],
        "dream_returns": np.round(played["dream_returns"], 4).tolist(),
        "videos": video_paths,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "evaluate.json").write_text(json.dumps(result, indent=1))
    _bar_chart(result, out_dir / "returns.png")
    keys = ("benchmark", "policy", "episodes", "real_return", "dream_return", "gap_dream_minus_real", "paid_steps",
            "seconds")  # fmt: skip
    return {k: result[k] for k in keys} | {"out": str(out_dir)}


def rank_policies(wm, real_env, policies: list[str], episodes: int, steps: int, seed: int, sampler_steps,
                  out_dir: Path, model: str, t0: float, real_info: bool = False) -> dict:  # fmt: skip
    """Every policy's mean return (95% CI) in the real world and in the dream, from the same seeds and start clips,
    and whether the dream ranks them as the real world does: Spearman's rank correlation between the two worlds'
    means, and the share of policies whose dream mean lies inside their real interval. Writes ``ranking.json``
    and ``ranking.png``."""
    from scipy import stats

    if len(policies) < 2:
        raise ValueError(f"policies: ranking needs at least two policies, got {policies}")
    for spec in policies:  # every name is checked before anything plays
        make_policy(str(spec), real_env.action_space, 1, seed=0)
    rows = []
    for n, spec in enumerate(policies, 1):
        t = time.perf_counter()
        played = play_both(wm, real_env, str(spec), episodes, steps, seed, 0, sampler_steps, real_info)
        real, dream = mean_ci(played["real_returns"]), mean_ci(played["dream_returns"])
        rows.append({"policy": str(spec), "real_return": real, "dream_return": dream,
                     "dream_in_real_ci": bool(real["low"] <= dream["mean"] <= real["high"]),
                     "paid_steps": played["paid_steps"], "real_returns": played["real_returns"],
                     "dream_returns": np.round(played["dream_returns"], 4).tolist()})  # fmt: skip
        pr, pd = played["paid_steps"]["real"], played["paid_steps"]["dream"]
        print(f"evaluate: {n}/{len(policies)} {spec}: real {real['mean']:.2f} +- {real['ci95']:.2f} (paid "
              f"+{pr['positive']} -{pr['negative']}), dream {dream['mean']:.2f} +- {dream['ci95']:.2f} (paid "
              f"+{pd['positive']} -{pd['negative']}) ({time.perf_counter() - t:.0f} s)", file=sys.stderr,
              flush=True)  # fmt: skip
    real_means = [r["real_return"]["mean"] for r in rows]
    dream_means = [r["dream_return"]["mean"] for r in rows]
    rho = stats.spearmanr(real_means, dream_means).statistic if len(set(real_means)) > 1 else float("nan")
    result = {
        "benchmark": "evaluate-ranking",
        "model": model,
        "episodes": episodes,
        "steps": steps,
        "real_info": real_info,
        "policies": rows,
        "spearman": None if not np.isfinite(rho) else round(float(rho), 4),
        "dream_in_real_ci": round(float(np.mean([r["dream_in_real_ci"] for r in rows])), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "ranking.json").write_text(json.dumps(result, indent=1))
    _ranking_chart(result, out_dir / "ranking.png")
    return {"benchmark": result["benchmark"], "spearman": result["spearman"],
            "dream_in_real_ci": result["dream_in_real_ci"],
            "returns": {r["policy"]: [round(r["real_return"]["mean"], 3), round(r["dream_return"]["mean"], 3)]
                        for r in rows}, "seconds": result["seconds"], "out": str(out_dir)}  # fmt: skip


def _ranking_chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["policies"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows)), 3.8), dpi=100)
    for k, (key, name, colour) in enumerate((("real_return", "real world", "#6a9f4b"),
                                              ("dream_return", "dream", "#5b7fbf"))):  # fmt: skip
        ax.bar(x + (k - 0.5) * 0.38, [r[key]["mean"] for r in rows], 0.38, yerr=[r[key]["ci95"] for r in rows],
               capsize=4, color=colour, label=name)  # fmt: skip
    ax.set_xticks(x, [r["policy"] for r in rows], rotation=20, fontsize=8)
    ax.set_ylabel("mean return (95% CI)")
    rho = result["spearman"]
    ax.set_title(f"{result['episodes']} episodes x {result['steps']} steps; Spearman "
                 f"{'n/a' if rho is None else f'{rho:.2f}'}")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _bar_chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3.5), dpi=100)
    names = ["real world", "dream"]
    stats = [result["real_return"], result["dream_return"]]
    ax.bar(names, [s["mean"] for s in stats], yerr=[s["ci95"] for s in stats], capsize=6, color=["#6a9f4b", "#5b7fbf"])
    ax.set_ylabel("mean return (95% CI)")
    ax.set_title(f"{result['policy']}: {result['episodes']} episodes x {result['steps']} steps")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
