"""`worldsim evaluate`: score a policy in the real world and in the dream, from the same seeds and start clips.

    worldsim evaluate policy=explorer episodes=10
    worldsim evaluate policy=runs/ppo/ppo_dream.zip model=voxel steps=300

Episode i (seed ``seed + i``): the policy plays the real voxel world for ``context - 1`` steps to make a start
clip; from there it plays ``steps`` more steps in the real world, and, from the very same clip, ``steps`` steps in
the dream (all dream episodes in one batch; the dream's reward and termination come from the model's heads).
Reports mean return with a 95% confidence interval (Student's t) in each world, episode lengths and the
dream-minus-real gap; writes ``evaluate.json``, a bar chart ``returns.png`` and side-by-side videos of the first
episodes. Prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import worldsim  # noqa: F401
from worldsim.dream import Dream
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


def evaluate_policy(policy: str = "explorer", model: str = "voxel", episodes: int = 10, steps: int = 200,
                    seed: int = 0, videos: int = 2, sampler_steps: int | None = None,
                    out: str = "outputs/evaluate", env_id: str = "worldsim/Voxel-v0", device: str = "cpu",
                    dtype: str | None = None, compile: bool = False) -> dict:  # fmt: skip
    from worldsim.utils.media import write_video
    from worldsim.world_model import load_world_model

    t0 = time.perf_counter()
    wm = load_world_model(model, device=device, dtype=dtype, compile=compile)
    h, w, _ = wm.frame_shape
    ctx = wm.window - 1
    real_env = gym.make(env_id, width=w, height=h)
    space = real_env.action_space

    # ---- the real world: start clip, then `steps` steps
    clips, clip_actions, real_returns, real_lengths, real_frames = [], [], [], [], []
    for i in range(episodes):
        pol = make_policy(policy, space, 1, seed=seed + i)
        obs, info = real_env.reset(seed=seed + i)
        frames, acts = [obs], []
        for _ in range(ctx - 1):
            a = pol.act_single(obs, info)
            obs, _, _, _, info = real_env.step(a)
            frames.append(obs)
            acts.append(a)
        clips.append(np.stack(frames))
        clip_actions.append(np.stack(acts))
        total, length, shown = 0.0, 0, [obs]
        for _ in range(steps):
            obs, r, term, trunc, info = real_env.step(pol.act_single(obs, info))
            total += float(r)
            length += 1
            shown.append(obs)
            if term or trunc:
                break
        real_returns.append(total)
        real_lengths.append(length)
        if i < videos:
            real_frames.append(np.stack(shown))

    # ---- the dream: the same clips, all episodes in one batch
    dream = Dream(wm, episodes, seeds=[seed + i for i in range(episodes)], steps=sampler_steps)
    dream.start(range(episodes), np.stack(clips), torch.stack([wm.flat_actions(a) for a in clip_actions]))
    dream_pol = make_policy(policy, space, episodes, seed=seed)
    obs = np.stack([c[-1] for c in clips])
    alive = np.ones(episodes, dtype=bool)
    dream_returns, dream_lengths = np.zeros(episodes), np.zeros(episodes, dtype=int)
    dream_frames = [[c[-1]] for c in clips[:videos]]
    for _ in range(steps):
        stepped = dream.step(dream_pol.act(obs, None))
        obs = stepped.frames
        dream_returns += stepped.reward * alive
        dream_lengths += alive
        for k in range(min(videos, episodes)):
            if alive[k]:
                dream_frames[k].append(obs[k])
        alive &= ~stepped.terminated
        if not alive.any():
            break

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_paths = []
    for k in range(min(videos, episodes)):
        n = min(len(real_frames[k]), len(dream_frames[k]))
        side = np.concatenate(
            [real_frames[k][:n], np.full((n, h, 2, 3), 255, np.uint8), np.stack(dream_frames[k][:n])], 2
        )
        video_paths.append(str(write_video(out_dir / f"episode{k}_real_vs_dream.mp4", side, fps=20, scale=4)))
    real_stats, dream_stats = mean_ci(real_returns), mean_ci(dream_returns)
    result = {
        "benchmark": "evaluate",
        "policy": policy,
        "model": model,
        "episodes": episodes,
        "steps": steps,
        "real_return": real_stats,
        "dream_return": dream_stats,
        "gap_dream_minus_real": dream_stats["mean"] - real_stats["mean"],
        "real_lengths": real_lengths,
        "dream_lengths": dream_lengths.tolist(),
        "real_returns": real_returns,
        "dream_returns": dream_returns.round(4).tolist(),
        "videos": video_paths,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "evaluate.json").write_text(json.dumps(result, indent=1))
    _bar_chart(result, out_dir / "returns.png")
    return {k: result[k] for k in ("benchmark", "policy", "episodes", "real_return", "dream_return",
                                   "gap_dream_minus_real", "seconds")} | {"out": str(out_dir)}  # fmt: skip


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
