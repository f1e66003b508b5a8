"""What the context showed: an upper bound on next-frame fidelity in the voxel world, from its ground truth.

    worldsim eval model=voxel clips=128 horizon=8 oracle_visible=true policy=random

A dream step can draw exactly only what the context frames already showed; everything else (ground that comes
into view at the edge of a turn, what a step forward uncovers behind an edge) it has to guess. The voxel world
is flat-shaded, so a block face looks the same from wherever it is seen (up to fog and water along the ray):
replaying a held-out episode from its seed and recorded actions, ``VoxelEnv.surface_ids`` names the face every
pixel shows, and a pixel of a real frame counts as *seen* when its face appears anywhere in the context frames
(sky counts as seen: its colour is a function of the view direction alone).

Two oracles score every horizon step against the real frame, both with the seen pixels exactly right (a model
that re-renders perfectly everything it has been shown, at any distance, through any motion):
- ``seen_exact_copy_rest``: the unseen pixels copied from the last context frame;
- ``seen_exact_mean_rest``: the unseen pixels set to their own true mean colour (an oracle for the best single
  guess of what came into view).
Both also through the VAE (encoded and decoded): what a latent model that predicted the oracle's frame would
score, since a latent dream is never sharper than its decoder. Besides, ``unseen_fraction``: the share of pixels
whose face no context frame showed.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from worldsim.eval.metrics import psnr

VOXEL_ENV_ID = "worldsim/Voxel-v0"


def replay_surfaces(env_spec, seed: int, actions: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
    """Replay one recorded voxel episode (its reset seed and its actions (T, 3)) and return the surface ids of
    its T + 1 frames (T + 1, H, W). With ``frames`` (the recorded (T + 1, H, W, 3)) every replayed frame is
    checked against the recording, so a dataset from another version of the world is refused, not misread."""
    env_id = getattr(env_spec, "id", None)
    if env_id != VOXEL_ENV_ID:
        raise ValueError(f"the visibility oracle needs a dataset recorded from {VOXEL_ENV_ID}, not {env_id}")
    env = gym.make(env_id, **dict(env_spec.kwargs or {}), max_episode_steps=None)
    try:
        obs, _ = env.reset(seed=int(seed))
        u = env.unwrapped
        ids = [u.surface_ids()]
        _check(frames, 0, obs, seed)
        for k, a in enumerate(np.asarray(actions).astype(np.int64)):
            obs, *_ = env.step(a)
            ids.append(u.surface_ids())
            _check(frames, k + 1, obs, seed)
    finally:
        env.close()
    return np.stack(ids)


def _check(frames, k, obs, seed) -> None:
    if frames is not None and not np.array_equal(frames[k], obs):
        raise ValueError(
            f"replaying the episode of seed {seed} gives another frame {k} than the recording: the dataset was "
            "made by another version of the voxel world"
        )


def seen_mask(target_ids: np.ndarray, context_ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of a frame whose surface the context shows, or that show sky. ``context_ids``: the
    context frames' ids (K, H, W), or any array of them (e.g. their unique ids, computed once for a clip)."""
    return (target_ids < 0) | np.isin(target_ids, context_ids[context_ids >= 0])


def visibility_oracles(store, episode_meta: list[dict], env_spec, starts: np.ndarray, context: int, horizon: int,
                       vae=None) -> dict:  # fmt: skip
    """Score the oracles of the module doc on the clips ``starts`` (context + horizon frames each) of ``store``
    (held-out frames, the episodes of ``episode_meta`` in order). Returns per-step mean PSNR lists, the unseen
    fraction per step, and each clip's next-frame unseen fraction."""
    ep_of = np.searchsorted(store.ep_start, starts, side="right") - 1
    surfaces = {}
    for e in np.unique(ep_of):
        s, t = store.ep_start[e], store.ep_start[e + 1]
        acts = store.actions[s : t - 1]
        surfaces[e] = replay_surfaces(env_spec, episode_meta[e]["seed"], acts, store.frames[s:t])
    b = len(starts)
    real = np.stack([store.frames[s + context : s + context + horizon] for s in starts])  # (B, H, ...)
    last = np.stack([store.frames[s + context - 1] for s in starts])
    copy_rest = np.empty_like(real)
    mean_rest = np.empty_like(real)
    unseen = np.zeros((b, horizon))
    for i, (s, e) in enumerate(zip(starts, ep_of)):
        j = s - store.ep_start[e]  # clip start within its episode
        ids = surfaces[e]
        ctx_ids = np.unique(ids[j : j + context])  # once per clip, not once per horizon step
        for k in range(horizon):
            seen = seen_mask(ids[j + context + k], ctx_ids)
            unseen[i, k] = 1.0 - seen.mean()
            frame = real[i, k]
            copy_rest[i, k] = np.where(seen[..., None], frame, last[i])
            fill = frame[~seen].mean(axis=0).round().astype(np.uint8) if (~seen).any() else 0
            mean_rest[i, k] = np.where(seen[..., None], frame, fill)
    out = {
        "unseen_fraction": unseen.mean(0).round(4).tolist(),
        "psnr_seen_exact_copy_rest": psnr(copy_rest, real).mean(0).round(3).tolist(),
        "psnr_seen_exact_mean_rest": psnr(mean_rest, real).mean(0).round(3).tolist(),
        "next_frame_unseen_by_clip": unseen[:, 0].round(4).tolist(),
    }
    if vae is not None:
        flat = (-1, *real.shape[2:])
        for name, pred in (("copy_rest", copy_rest), ("mean_rest", mean_rest)):
            dec = _through_vae(vae, pred.reshape(flat)).reshape(real.shape)
            out[f"psnr_seen_exact_{name}_vae"] = psnr(dec, real).mean(0).round(3).tolist()
    return out


def _through_vae(vae, frames: np.ndarray, batch: int = 256) -> np.ndarray:
    parts = [vae.decode(vae.encode(frames[i : i + batch])).cpu().numpy() for i in range(0, len(frames), batch)]
    return np.concatenate(parts)
