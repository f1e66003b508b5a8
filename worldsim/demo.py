"""The demo behind `make demo`: the real voxel world and its dream, side by side, driven by the same actions.

    worldsim demo                       # 200 steps, outputs/demo/{real_vs_dream.mp4, psnr.png, ...}
    worldsim demo steps=50 seed=3 out=/tmp/demo

The explorer plays the real world for a few steps to make a starting clip; the dream starts from that clip; then
for ``steps`` steps the explorer acts on the real world and the very same actions drive the dream. Each dreamed
frame is scored against the real one (PSNR). Without a trained world model (``model`` missing) the demo shows
the real world alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import worldsim  # noqa: F401  (registers the env ids)
from worldsim.envs import VOXEL, make_env, real_env_of
from worldsim.eval.metrics import psnr
from worldsim.utils.media import contact_sheet, save_png, write_video


def play_real(env_id: str, steps: int, seed: int, policy, frame_shape=None):
    """Frames (steps+1, H, W, 3), actions (steps, ...) and the final info of ``policy`` in the real world."""
    env = make_env(env_id, frame_shape)
    obs, info = env.reset(seed=seed)
    frames, actions = [obs], []
    for _ in range(steps):
        a = policy.act_single(obs, info)
        obs, _, terminated, truncated, info = env.step(a)
        frames.append(obs)
        actions.append(a)
        if terminated or truncated:
            break
    env.close()
    return np.stack(frames), np.stack(actions), info


def demo_policy(name: str, space, seed: int):
    """The named policy for ``space``; random where it does not fit (the explorer is written for the voxel world)."""
    from worldsim.policies import make_policy

    try:
        return make_policy(name, space, seed=seed)
    except ValueError as exc:
        print(f"worldsim demo: {exc}; the random policy acts instead", flush=True)
        return make_policy("random", space, seed=seed)


def run_demo(model: str = "voxel", env_id: str | None = None, steps: int = 200, seed: int = 7,
             out: str = "outputs/demo", fps: int = 20, scale: int = 4, video: str = "real_vs_dream.mp4",
             sampler_steps: int | None = None, policy: str = "explorer") -> dict:  # fmt: skip
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        from worldsim.world_model import load_world_model

        wm = load_world_model(model)
    except FileNotFoundError as exc:
        print(f"worldsim demo: {exc}; showing the real world only", flush=True)
        return _real_only(env_id or VOXEL, steps, seed, out_dir, fps, scale, policy)

    import torch

    from worldsim.dream import rollout

    t_start = time.perf_counter()
    h, w, _ = wm.frame_shape
    actor = demo_policy(policy, wm.action_space, seed)
    real, actions, info = play_real(env_id or real_env_of(wm), steps + wm.window, seed, actor, wm.frame_shape)
    ctx = wm.sampler_cfg.context
    n = min(steps, len(actions) - (ctx - 1))
    t0 = time.perf_counter()
    flat = wm.flat_actions(actions)[None, : ctx - 1 + n]
    dreamed = rollout(wm, real[None, :ctx], flat, n, seed, steps=sampler_steps)[0]
    dream_fps = n / (time.perf_counter() - t0)
    dream = np.concatenate([real[ctx - 1 : ctx], dreamed])
    target = real[ctx - 1 : ctx + n]
    scores = psnr(dream[1:], target[1:])
    copy = psnr(np.repeat(target[:1], n, 0), target[1:])

    gap = np.full((len(dream), h, 2, 3), 255, np.uint8)
    side = np.concatenate([target, gap, dream], axis=2)  # real | dream
    video_path = write_video(out_dir / video, side, fps=fps, scale=scale)
    picks = np.linspace(0, len(side) - 1, 12).astype(int)
    sheet = save_png(out_dir / "real_vs_dream.png", contact_sheet(side[picks], cols=4, scale=2))
    plot = _plot_psnr(scores, copy, out_dir / "psnr.png")
    summary = {
        "demo": "real_vs_dream",
        "model": model,
        "steps": int(n),
        "sampler_steps": sampler_steps or wm.sampler_cfg.steps,
        "dream_fps": round(dream_fps, 1),
        "mean_psnr": round(float(scores.mean()), 2),
        "mean_psnr_copy_last": round(float(copy.mean()), 2),
        "psnr_first_8": [round(float(x), 2) for x in scores[:8]],
        "video": str(video_path),
        "contact_sheet": str(sheet),
        "psnr_plot": str(plot),
        "seconds": round(time.perf_counter() - t_start, 1),
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _plot_psnr(scores: np.ndarray, copy: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = np.arange(1, len(scores) + 1)
    ax.plot(steps, scores, label="dream vs real")
    ax.plot(steps, copy, ls="--", label="first frame held (baseline)")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("the dream against the real world, same actions")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _real_only(env_id: str, steps: int, seed: int, out_dir: Path, fps: int, scale: int, policy: str) -> dict:
    t0 = time.perf_counter()
    actor = demo_policy(policy, make_env(env_id).action_space, seed)
    frames, _, info = play_real(env_id, steps, seed, actor)
    elapsed = time.perf_counter() - t0
    video_path = write_video(out_dir / "real.mp4", frames, fps=fps, scale=scale)
    picks = np.linspace(0, len(frames) - 1, 24).astype(int)
    sheet = save_png(out_dir / "contact_sheet.png", contact_sheet(frames[picks], cols=8, scale=2))
    logs = int(info["logs_collected"]) if "logs_collected" in info else None  # (the voxel world's task)
    summary = {"demo": "real_only", "steps": len(frames) - 1, "logs_collected": logs,
               "env_steps_per_s": round((len(frames) - 1) / elapsed, 1), "video": str(video_path),
               "contact_sheet": str(sheet)}  # fmt: skip
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
