"""`worldsim export`: a shippable world-model folder from a DiT training run.

    worldsim export run_dir=runs/dit-voxel out=worldsim/assets/voxel
    worldsim export run_dir=runs/dit-voxel reward=runs/reward-voxel   # dreams paid by that reward model
    worldsim export run_dir=runs/dit-voxel std_floor=0.1   # the contrast floor from the exported clips

The folder holds the VAE (the very file the DiT was trained with), the DiT in fp16 with the sampler defaults and
the VAE's hash in its metadata, and ``clips.npz``: real held-out clips of the run's dataset that dreams start from
(``WorldModel.held_out_clips``). ``load_world_model(<folder>)`` and ``gym.make("worldsim/Dream-v0",
model=<folder>)`` take it as it is. With ``reward`` (``worldsim train-reward``'s run folder or its file) the folder
also holds ``reward.safetensors`` (fp16), the reward model its dreams are paid by.
"""

from __future__ import annotations

from pathlib import Path

import torch

from worldsim.world_model import load_world_model


def export_world_model(
    run_dir: str,
    out: str,
    root: str = "data/minari",
    clips: int = 64,
    clip_length: int | None = None,
    eval_fraction: float = 0.05,
    split_seed: int = 0,
    seed: int = 0,
    fp16: bool = True,
    reward: str | None = None,
    std_floor: float | None = None,
) -> dict:
    """Make a self-contained world-model folder from a DiT run: fp16 VAE + DiT, and ``clips`` real held-out
    clips of ``clip_length`` frames (with their actions) to start dreams from; None: the model's training window,
    so that a dream starts with a full context of real frames, as the model was trained (a shorter clip starts
    every dream on less context than it will have later). ``std_floor``: None keeps the run's contrast floor
    (``SamplerConfig.std_floor``), 0 drops it, a quantile sets it from the exported clips' frames."""
    wm = load_world_model(run_dir, reward=reward)
    clip_length = int(clip_length or wm.window)
    if not wm.info.get("env_id") and wm.info.get("dataset_id"):  # name the real env (caches from before did not)
        from worldsim.data.dataset import open_dataset

        spec = open_dataset(wm.info["dataset_id"], root=root).spec.env_spec
        wm.info["env_id"] = getattr(spec, "id", None)
    wm.clips = wm.held_out_clips(root, clips, clip_length, eval_fraction, split_seed, seed)
    if std_floor is not None:
        wm.set_std_floor(std_floor)
    folder = wm.save(out, dtype=torch.float16 if fp16 else None)
    size = sum(f.stat().st_size for f in Path(folder).iterdir())
    return {"out": str(folder), "clips": len(wm.clips["frames"]), "megabytes": round(size / 2**20, 2),
            "reward_model": wm.reward_model is not None, "std_floor": wm.sampler_cfg.std_floor}  # fmt: skip
