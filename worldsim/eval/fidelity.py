"""`worldsim eval`: how faithfully a world model dreams held-out real play, step by step.

    worldsim eval model=voxel horizon=32 clips=32
    worldsim eval model=runs/dit-voxel steps=4 out=outputs/eval-4steps

From ``context`` real frames of a held-out episode, the model rolls out ``horizon`` frames driven by the actions
that were really taken, and every dreamed frame is scored against the real one (PSNR and SSIM, per horizon step).
Beside it, in the same run:
- *copy last frame*: the last context frame repeated, the trivial baseline a world model must beat; also *through
  the VAE* (the last context frame's latent repeated, decoded): what copying scores in the latent space the model
  dreams in. PSNR is averaged over clips, so near-static clips, where raw copying scores 40-60 dB, lift the raw
  copy baseline above anything a latent model (capped by the VAE, ~30-33 dB per frame) can score there;
- *wrong actions*: the same model fed the actions of another clip; the gap between true and wrong actions
  measures how much the model follows the controls (as Genie measured controllability);
- *VAE ceiling*: the real frames through the VAE alone, the best any dream in this latent space can score;
- *best shift of the last frame* (``oracle_shift=S``, off by default): the last context frame moved by whichever
  whole-pixel shift up to S pixels matches each real frame best, chosen against that real frame. An oracle for
  motion alone: what a model that moved the picture perfectly, but drew no parallax and nothing newly seen, would
  score (``metrics.best_shift``);
- *what the context showed* (``oracle_visible=true``, voxel-world datasets only): every pixel whose block face the
  context frames showed drawn exactly, the rest copied or set to its true mean, raw and through the VAE, and the
  share of pixels nothing in the context showed (``worldsim/eval/visibility.py``): a ceiling for any model.
``next_frame_by_action`` in the JSON splits the next frame's scores (dream, copy last, VAE) by the action into it,
column by column of a discrete action space: where the dream loses to copying (e.g. when nothing moved) shows.
``policy=random`` scores only the held-out episodes recorded with the random policy (dreams driven by random
actions); by default every held-out episode counts. Writes ``fidelity.json`` and ``fidelity.png`` under ``out``
and returns the summary (printed as one JSON object).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from worldsim import runtime
from worldsim.data.dataset import load_held_out, pick_clips
from worldsim.dream import rollout
from worldsim.eval.metrics import best_shift, psnr, ssim


def evaluate_fidelity(model: str = "voxel", dataset_id: str | None = None, root: str = "data/minari",
                      horizon: int = 32, context: int | None = None, clips: int = 32, seed: int = 0,
                      steps: int | None = None, eval_fraction: float = 0.05, split_seed: int = 0,
                      policy: str | None = None, out: str = "outputs/eval", plot: bool = True,
                      oracle_shift: int = 0, oracle_visible: bool = False, device: str = "cpu",
                      dtype: str | None = None, compile: bool = False) -> dict:  # fmt: skip
    from worldsim.world_model import load_world_model

    t0 = time.perf_counter()
    wm = load_world_model(model, device=device, dtype=dtype, compile=compile)
    context = context or wm.window - 1
    dataset_id = dataset_id or wm.info.get("dataset_id")
    if not dataset_id:
        raise ValueError("the model does not name its dataset: pass dataset_id=")
    store = load_held_out(dataset_id, root, eval_fraction, split_seed, wm.frame_shape, policy)
    length = context + horizon
    starts = pick_clips(store, length, clips, seed)
    idx = starts[:, None] + np.arange(length)[None]  # (B, L)
    real = store.frames[idx]  # (B, L, H, W, 3)
    acts = store.actions[idx[:, :-1]]  # (B, L-1, A): the action after each frame

    dream = rollout(wm, real, acts, horizon, seed, context=context, steps=steps)
    perm = np.roll(np.arange(len(starts)), 1)  # every clip gets its neighbour's actions
    wrong = rollout(wm, real, np.concatenate([acts[:, : context - 1], acts[perm, context - 1 :]], 1), horizon, seed,
                    context=context, steps=steps)  # fmt: skip
    target = real[:, context:]
    copy = np.repeat(real[:, context - 1 : context], horizon, axis=1)
    ceiling = wm.decode(wm.encode(target))
    copy_latent = np.repeat(wm.decode(wm.encode(real[:, context - 1 : context])), horizon, axis=1)

    def per_step(x):
        return psnr(x, target).mean(axis=0)

    flat = target.reshape(-1, *target.shape[2:])
    result = {
        "model": model,
        "dataset_id": dataset_id,
        "clips": int(len(starts)),
        "policy": policy or "all held-out episodes",
        "context": context,
        "horizon": horizon,
        "sampler_steps": steps or wm.sampler_cfg.steps,
        "device": str(wm.device),
        "dtype": runtime.dtype_name(wm.dtype),
        "psnr": per_step(dream).round(3).tolist(),
        "ssim": ssim(dream.reshape(flat.shape), flat).reshape(len(starts), horizon).mean(0).round(4).tolist(),
        "psnr_copy_last": per_step(copy).round(3).tolist(),
        "psnr_copy_last_latent": per_step(copy_latent).round(3).tolist(),
        "psnr_wrong_actions": per_step(wrong).round(3).tolist(),
        "psnr_vae_ceiling": per_step(ceiling).round(3).tolist(),
    }
    if oracle_shift:
        shifted = best_shift(copy.reshape(flat.shape), flat, oracle_shift).reshape(target.shape)
        result["oracle_shift"] = int(oracle_shift)
        result["psnr_best_shift"] = per_step(shifted).round(3).tolist()
    by_action = next_frame_by_action(wm.action_space, acts[:, context - 1], {
        "dream": psnr(dream[:, 0], target[:, 0]), "copy_last": psnr(copy[:, 0], target[:, 0]),
        "vae_ceiling": psnr(ceiling[:, 0], target[:, 0])})  # fmt: skip
    if by_action:
        result["next_frame_by_action"] = by_action
    if oracle_visible:
        from worldsim.data.dataset import open_dataset
        from worldsim.eval.visibility import visibility_oracles

        ds = open_dataset(dataset_id, root=root)
        metas = list(ds.storage.get_episode_metadata(store.episode_ids.tolist()))
        result["visible"] = visibility_oracles(store, metas, ds.spec.env_spec, starts, context, horizon, wm.vae)
    h8 = min(8, horizon) - 1
    result["summary"] = {
        "next_frame_psnr": result["psnr"][0],
        "psnr_at_8": result["psnr"][h8],
        "copy_last_next_frame": result["psnr_copy_last"][0],
        "copy_last_latent_next_frame": result["psnr_copy_last_latent"][0],
        "copy_last_at_8": result["psnr_copy_last"][h8],
        "gain_over_copy_at_8": round(result["psnr"][h8] - result["psnr_copy_last"][h8], 3),
        "action_gap_at_8": round(result["psnr"][h8] - result["psnr_wrong_actions"][h8], 3),
        "vae_ceiling": round(float(np.mean(result["psnr_vae_ceiling"])), 3),
        "ssim_next_frame": result["ssim"][0],
    }
    if oracle_shift:
        result["summary"]["best_shift_next_frame"] = result["psnr_best_shift"][0]
        result["summary"]["best_shift_at_8"] = result["psnr_best_shift"][h8]
    if oracle_visible:
        vis = result["visible"]
        result["summary"]["unseen_fraction_next_frame"] = vis["unseen_fraction"][0]
        result["summary"]["seen_exact_mean_rest_next_frame"] = vis["psnr_seen_exact_mean_rest"][0]
        result["summary"]["seen_exact_mean_rest_vae_next_frame"] = vis["psnr_seen_exact_mean_rest_vae"][0]
        result["summary"]["seen_exact_copy_rest_vae_next_frame"] = vis["psnr_seen_exact_copy_rest_vae"][0]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "fidelity.json").write_text(json.dumps(result, indent=1))
    if plot:
        _plot(result, out_dir / "fidelity.png")
        from worldsim.utils.media import contact_sheet, save_png

        rows = min(4, len(starts))
        grid = np.concatenate([np.concatenate([target[i, :8], dream[i, :8]], 0) for i in range(rows)], 0)
        save_png(out_dir / "real_vs_dream.png", contact_sheet(grid, cols=min(8, horizon), scale=2))
    return {"benchmark": "fidelity", "policy": result["policy"], **result["summary"], "out": str(out_dir)}


def next_frame_by_action(space, actions: np.ndarray, scores: dict[str, np.ndarray]) -> dict:
    """Mean of each per-clip score (name -> (B,)) grouped by the action into the frame, ``actions`` (B, A) flat:
    ``{"column c = v": {"clips": n, name: mean, ...}}`` for every column value of a Discrete or MultiDiscrete space
    (empty for other spaces)."""
    import gymnasium as gym

    if not isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return {}
    out = {}
    for c in range(actions.shape[1]):
        for v in np.unique(actions[:, c]):
            m = actions[:, c] == v
            out[f"column {c} = {int(v)}"] = {"clips": int(m.sum())} | {
                k: round(float(x[m].mean()), 3) for k, x in scores.items()
            }
    return out


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, result["horizon"] + 1)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, result["psnr"], label="dream (true actions)", lw=2)
    ax.plot(steps, result["psnr_wrong_actions"], label="dream (another clip's actions)")
    ax.plot(steps, result["psnr_copy_last"], label="copy last context frame", ls="--")
    ax.plot(steps, result["psnr_copy_last_latent"], label="copy last context frame, through the VAE", ls="-.")
    ax.plot(steps, result["psnr_vae_ceiling"], label="VAE reconstruction (ceiling)", ls=":")
    if "psnr_best_shift" in result:
        ax.plot(steps, result["psnr_best_shift"], label="last frame, best shift (oracle)", ls=(0, (1, 3)))
    if "visible" in result:
        ax.plot(steps, result["visible"]["psnr_seen_exact_mean_rest_vae"], ls=(0, (3, 1, 1, 1)),
                label="seen exact, unseen mean, through the VAE (oracle)")  # fmt: skip
    ax.set_xlabel("steps into the dream")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"{result['model']}: {result['clips']} held-out clips, {result['sampler_steps']} sampler steps")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
