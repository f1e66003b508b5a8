"""Part 7 of the report card (voxel world): does the dream swim?

Uniform random play from a fresh spawn walks into the sea within a few hundred steps (the soak's real runs swim
30-77 % of the time), and that is where the voxel dream loses the world (session 36): it draws a swimmer's view,
the world through translucent water, as the view from the shore (opaque dark water, sand) and grows trees there.
From ``runs`` worlds reset from unplayed seeds and played with uniform random actions for ``steps`` steps, this
part takes starts every ``STRIDE`` steps where the real player swam for the 10 steps before and the ``horizon``
after (*water*), and as many where it stood on land throughout (*land*), and dreams ``horizon`` steps from each
start's last ``context`` real frames with the real actions (the real camera's pitch given). Per group: PSNR at
steps 1, 5 and ``horizon`` against the real world and against copying the last real frame (a swimmer's view
changes slowly: copying is hard to beat there), and the share of water and of tree (leaves, log) pixels at the
last step, real and dream, by the nearest rendered colour. ``worldsim report parts=[swim]`` runs it alone.
"""

from __future__ import annotations

import numpy as np

from worldsim.eval.long_run import seed_base

STRIDE = 40  # steps between candidate starts in one run
BEFORE = 10  # steps in water (or on land) before a start


def _play(env_id: str, shape, runs: int, steps: int, seed: int, worlds: int):
    """Each run's frames (steps + 1, H, W, 3), actions (steps, A), in-water flags (steps + 1,) and camera pitch in
    degrees (steps + 1,)."""
    import gymnasium as gym

    env = gym.make(env_id, width=shape[1], height=shape[0], max_episode_steps=10**9)
    nvec = np.asarray(env.action_space.nvec)
    actions = np.random.default_rng(seed_base(seed) + 7).integers(0, nvec, size=(runs, steps, len(nvec)))
    out = []
    for r in range(runs):
        obs, info = env.reset(seed=worlds + seed_base(seed) + 40_000 + r)
        frames, water, pitch = [obs], [info["in_water"]], [env.unwrapped.pitch]
        for a in actions[r]:
            obs, _, term, trunc, info = env.step(a)
            frames.append(obs)
            water.append(info["in_water"])
            pitch.append(env.unwrapped.pitch)
            if term or trunc:  # the world ended the run: its frames so far
                break
        n = len(frames)
        out.append((np.stack(frames), actions[r, : n - 1], np.array(water, bool), np.array(pitch, np.float32)))
    env.close()
    return out


def _starts(played, ctx: int, horizon: int, max_starts: int) -> dict[str, list]:
    """(context frames, actions, real future frames, first frame's pitch in camera steps) per start, grouped water /
    land."""
    from worldsim.envs.voxel.env import PITCH_STEP

    groups: dict[str, list] = {"water": [], "land": []}
    for frames, actions, water, pitch in played:
        for t in range(max(ctx - 1, BEFORE), len(frames) - 1 - horizon, STRIDE):
            span = water[t - BEFORE : t + horizon + 1]
            key = "water" if span.all() else "land" if not span.any() else None
            if key and len(groups[key]) < max_starts:
                first = t - ctx + 1
                future = frames[t + 1 : t + 1 + horizon]
                groups[key].append((frames[first : t + 1], actions[first : t + horizon], future,
                                    int(round(pitch[first] / PITCH_STEP))))  # fmt: skip
    return groups


def swim_part(wm, env_id: str, runs: int, steps: int, horizon: int, max_starts: int, seed: int, worlds: int) -> dict:
    """See the module docstring. ``worlds``: the first world seed (``seed`` adds to it, as in the other parts)."""
    from worldsim.dream import rollout
    from worldsim.envs.voxel.blocks import LEAVES, LOG, WATER
    from worldsim.eval.metrics import psnr
    from worldsim.eval.world_metrics import colour_classes

    if horizon < 5:
        raise ValueError(f"swim: horizon must be at least 5 steps, got {horizon}")
    ctx = wm.window - 1
    groups = _starts(_play(env_id, wm.frame_shape, runs, steps, seed, worlds), ctx, horizon, max_starts)
    at = [1, 5, horizon]
    out: dict = {"runs": runs, "steps": steps, "horizon": horizon, "at": at}
    for key, starts in groups.items():
        if not starts:
            out[key] = {"starts": 0}
            continue
        clip = np.stack([s[0] for s in starts])
        acts = np.stack([s[1] for s in starts])
        real = np.stack([s[2] for s in starts])
        flat = wm.flat_action_runs(acts)
        dream = rollout(wm, clip, flat, horizon, seed_base(seed), context=ctx, pitch=[s[3] for s in starts])

        def share(frames, *ids):
            return round(float(np.isin(colour_classes(frames), ids).mean()), 4)

        out[key] = {
            "starts": len(starts),
            "psnr": [round(float(np.mean(psnr(dream[:, k - 1], real[:, k - 1]))), 2) for k in at],
            "psnr_copy_last": [round(float(np.mean(psnr(clip[:, -1], real[:, k - 1]))), 2) for k in at],
            "water_share_last": {"real": share(real[:, -1], WATER), "dream": share(dream[:, -1], WATER)},
            "tree_share_last": {"real": share(real[:, -1], LOG, LEAVES), "dream": share(dream[:, -1], LOG, LEAVES)},
        }
    return out


def swim_summary(part: dict) -> dict:
    """The card's summary lines: per group, the dream's PSNR over copying's at the last step, and the tree share of
    the last frame [real, dream] (where the swimmer's dream grows its trees)."""
    out = {}
    for key in ("water", "land"):
        g = part.get(key, {})
        if g.get("starts"):
            out[f"swim_{key}_gain_over_copy_last"] = round(g["psnr"][-1] - g["psnr_copy_last"][-1], 2)
            out[f"swim_{key}_tree_share_last"] = [g["tree_share_last"]["real"], g["tree_share_last"]["dream"]]
    return out
