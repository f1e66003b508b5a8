"""`worldsim export`: a shippable world-model folder from a DiT training run.

    worldsim export run_dir=runs/dit-voxel out=worldsim/assets/voxel
    worldsim export run_dir=runs/dit-voxel reward=runs/reward-voxel   # dreams paid by that reward model
    worldsim export run_dir=runs/dit-voxel std_floor=0.1   # the contrast floor from the exported clips
    worldsim export run_dir=runs/more out=runs/more-wm clips_from=voxel   # the start clips voxel ships

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
    mean_band: float | None = None,
    clips_from: str | None = None,
) -> dict:
    """Make a self-contained world-model folder from a DiT run: fp16 VAE + DiT, and ``clips`` real held-out
    clips of ``clip_length`` frames (with their actions) to start dreams from; None: the model's training window,
    so that a dream starts with a full context of real frames, as the model was trained (a shorter clip starts
    every dream on less context than it will have later). ``std_floor``: None keeps the run's contrast floor
    (``SamplerConfig.std_floor``), 0 drops it, a quantile sets it from the exported clips' frames; ``mean_band``
    the same for the colour band (``SamplerConfig.mean_band``).
    ``clips_from`` (a world-model folder or shipped name) ships that model's start clips instead of drawing new
    ones, and names its dataset as this model's held-out set: a model continued on other play keeps the starts and
    the held-out recording of the one it continued (where it never saw that recording's held-out episodes); the
    run's own data stays in ``info["continued_on"]``."""
    wm = load_world_model(run_dir, dtype="float32", reward=reward)
    clip_length = int(clip_length or wm.window)
    if not wm.info.get("env_id") and wm.info.get("dataset_id"):  # name the real env (caches from before did not)
        from worldsim.data.dataset import open_dataset

        spec = open_dataset(wm.info["dataset_id"], root=root).spec.env_spec
        wm.info["env_id"] = getattr(spec, "id", None)
    if clips_from:
        _take_clips(wm, clips_from)
    else:
        wm.clips = wm.held_out_clips(root, clips, clip_length, eval_fraction, split_seed, seed)
    wm.set_sampler_limits(std_floor, mean_band)
    folder = wm.save(out, dtype=torch.float16 if fp16 else None)
    size = sum(f.stat().st_size for f in Path(folder).iterdir())
    return {"out": str(folder), "clips": len(wm.clips["frames"]), "megabytes": round(size / 2**20, 2),
            "reward_model": wm.reward_model is not None, "std_floor": wm.sampler_cfg.std_floor,
            "mean_band": wm.sampler_cfg.mean_band is not None}  # fmt: skip


def _take_clips(wm, source: str) -> None:
    """``wm`` gets the start clips and held-out dataset of the world model ``source`` (see ``clips_from``)."""
    src = load_world_model(source, dtype="float32")
    if src.clips is None:
        raise FileNotFoundError(f"clips_from={source!r}: that world model ships no start clips (clips.npz)")
    frames, actions = src.clips["frames"], src.clips["actions"]
    if frames.shape[2:] != wm.frame_shape or actions.shape[2:] != wm.action_space.shape:
        raise ValueError(f"clips_from={source!r}: its clips hold frames {frames.shape[2:]} and actions "
                         f"{actions.shape[2:]}, this model draws frames {wm.frame_shape} from actions "
                         f"{wm.action_space.shape}")  # fmt: skip
    if src.info.get("env_id") and wm.info.get("env_id") and src.info["env_id"] != wm.info["env_id"]:
        raise ValueError(f"clips_from={source!r} holds clips of {src.info['env_id']}, this model dreams "
                         f"{wm.info['env_id']}")  # fmt: skip
    own = {k: wm.info[k] for k in ("dataset_id", "latents", "extra_latents") if k in wm.info}
    if src.info.get("dataset_id") and src.info["dataset_id"] != own.get("dataset_id"):
        wm.info = {**wm.info, "continued_on": own, "dataset_id": src.info["dataset_id"]}
    wm.clips = {"frames": frames, "actions": actions}
    if "pitch" in src.clips and wm.dit.pitch_rule is not None:  # (a model without the input has no use for it)
        wm.clips["pitch"] = src.clips["pitch"]
