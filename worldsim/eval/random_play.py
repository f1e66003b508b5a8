"""Part 6 of the report card (voxel world): does the dream keep the camera's pitch and the world's look under long
random play?

Random play digs, builds and tilts the camera to its limits, deeper than the recordings a model learns from; it
is where dreams drift (session 28: close cube faces turn to dark-green blobs) and lose the pitch (session 30: sky
drawn where the world looks down). From ``starts`` worlds reset from unplayed seeds, the same uniform random
actions in the real world and in the dream (started from the real world's first ``context`` frames, its pitch
level as at a reset) for ``steps`` steps. Each frame's pitch is the real world's own; each pixel is sky or not by
its nearest rendered colour (``world_metrics.colour_classes``), the same test in both worlds. Reported by pitch band
(looking down at least 30 degrees, level, looking up at least 30 degrees) and by third of the run: the share of sky
and the mean brightness, real and dream. ``worldsim report parts=[random_play]`` runs it alone (about a minute).
"""

from __future__ import annotations

import numpy as np

from worldsim.eval.long_run import seed_base

BANDS = {"down": (-90.0, -30.0), "level": (-30.0, 30.0), "up": (30.0, 90.0)}  # degrees, [lo, hi)


def random_play_part(wm, env_id: str, starts: int, steps: int, seed: int, worlds: int) -> dict:
    """See the module docstring. ``worlds``: the first world seed (``seed`` adds to it, as in the other parts)."""
    import gymnasium as gym
    import torch

    from worldsim.dream import Dream
    from worldsim.eval.world_metrics import colour_classes

    ctx, shape = wm.window - 1, wm.frame_shape
    nvec = np.asarray(wm.action_space.nvec)
    actions = np.random.default_rng(seed).integers(0, nvec, size=(starts, ctx - 1 + steps, len(nvec)))
    clip = np.zeros((starts, ctx, *shape), np.uint8)
    real = np.zeros((starts, steps, *shape), np.uint8)
    pitch = np.zeros((starts, steps), np.float32)
    env = gym.make(env_id, width=shape[1], height=shape[0], max_episode_steps=10**9)
    for i in range(starts):
        clip[i, 0] = env.reset(seed=worlds + seed_base(seed) + i)[0]
        for j, a in enumerate(actions[i]):
            obs = env.step(a)[0]
            if j < ctx - 1:
                clip[i, j + 1] = obs
            else:
                real[i, j - ctx + 1], pitch[i, j - ctx + 1] = obs, env.unwrapped.pitch
    env.close()
    dreams = Dream(wm, starts, seeds=[seed_base(seed) + i for i in range(starts)])
    flat = wm.flat_action_runs(actions[:, : ctx - 1])
    dreams.start(range(starts), clip, flat, pitch=[0] * starts)  # (from a reset: level)
    with torch.no_grad():
        dream = np.stack([dreams.step(actions[:, ctx - 1 + k]).frames for k in range(steps)], 1)
    sky = {w: (colour_classes(x) == 0).mean((2, 3)) for w, x in (("real", real), ("dream", dream))}  # (S, steps)
    light = {"real": real.mean((2, 3, 4)), "dream": dream.mean((2, 3, 4))}
    thirds = np.array_split(np.arange(steps), 3)
    out: dict = {"starts": starts, "steps": steps, "bands": {}}
    for name, (lo, hi) in BANDS.items():
        rows = []
        for part in [np.arange(steps), *thirds]:
            m = (pitch[:, part] >= lo) & (pitch[:, part] < hi)
            row = {"steps": [int(part[0]) + 1, int(part[-1]) + 1], "frames": int(m.sum())}
            if m.any():
                for w in ("real", "dream"):
                    row[f"sky_{w}"] = round(float(sky[w][:, part][m].mean()), 4)
                    row[f"brightness_{w}"] = round(float(light[w][:, part][m].mean()), 2)
            rows.append(row)
        out["bands"][name] = {"all": rows[0], "thirds": rows[1:]}
    out["brightness_by_third"] = {w: [round(float(light[w][:, p].mean()), 2) for p in thirds] for w in light}
    last = light["dream"][:, thirds[-1]].mean(1) - light["real"][:, thirds[-1]].mean(1)  # by start: same world, actions
    out["brightness_last_se"] = round(float(last.std(ddof=1) / np.sqrt(starts)), 2) if starts > 1 else None
    picks = np.linspace(0, steps - 1, 6).astype(int)
    out["_frames"] = (real[0, picks], dream[0, picks])  # for the card's picture, not its JSON
    return out


def random_play_summary(part: dict) -> dict:
    """The card's summary lines: each band's [real, dream] sky share, the last third's [real, dream] brightness, and
    the standard error of their difference over the starts (a dream enters a dark attractor or not: the noise)."""
    bands = part["bands"]
    return {"random_play_sky": {k: [b["all"].get("sky_real"), b["all"].get("sky_dream")] for k, b in bands.items()},
            "random_play_brightness_last": [part["brightness_by_third"][w][-1] for w in ("real", "dream")],
            "random_play_brightness_last_se": part.get("brightness_last_se")}  # fmt: skip
