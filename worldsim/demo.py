"""The demo behind `make demo`: the explorer policy plays the voxel world; a video and a contact sheet come out.

worldsim demo steps=300 seed=5 out=outputs/demo
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import worldsim  # noqa: F401  (registers the env ids)
from worldsim.policies import ExplorerPolicy
from worldsim.utils.media import contact_sheet, save_png, write_video


def run_demo(env_id: str = "worldsim/Voxel-v0", steps: int = 300, seed: int = 5, out: str = "outputs/demo",
             fps: int = 20, scale: int = 4, video: str = "real.mp4") -> dict:  # fmt: skip
    env = gym.make(env_id, render_mode="rgb_array")
    policy = ExplorerPolicy(env.action_space, seed=seed)
    obs, info = env.reset(seed=seed)
    frames, total = [obs], 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(policy.act_single(obs, info))
        frames.append(obs)
        total += float(reward)
        if terminated or truncated:
            break
    elapsed = time.perf_counter() - t0
    env.close()

    out_dir = Path(out)
    frames = np.stack(frames)
    video_path = write_video(out_dir / video, frames, fps=fps, scale=scale)
    picks = np.linspace(0, len(frames) - 1, 24).astype(int)
    sheet_path = save_png(out_dir / "contact_sheet.png", contact_sheet(frames[picks], cols=8, scale=2))
    summary = {
        "demo": "voxel",
        "steps": len(frames) - 1,
        "return": total,
        "logs_collected": int(info["logs_collected"]),
        "env_steps_per_s": round((len(frames) - 1) / elapsed, 1),
        "video": str(video_path),
        "contact_sheet": str(sheet_path),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
