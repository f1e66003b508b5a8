"""Part 2 of the report card: does the dream stay a world over hundreds of steps?

From the same fresh start the explorer plays ``steps`` steps in the real world and in the dream (acting on what it
sees there), ``starts`` times. Per 64-step bucket: the dream's sharpness over the real world's, the Jensen-Shannon
divergence of their colour histograms, and the Frechet distance of their frame features (the IDM's encoder), beside
the same for a second real rollout (other seeds), a blurred real rollout, and a dream that repeats its first frame.
``mean_se``: the standard error of the dream's mean over the buckets, by a paired bootstrap over the starts (the
same starts drawn for the dream and the real world): how far apart two models' readings must be to differ.
"""

from __future__ import annotations

import numpy as np

from worldsim.eval.world_metrics import box_blur, colour_histogram, colour_js, frechet_distance, js_bits, sharpness

VOXEL = "worldsim/Voxel-v0"
BUCKET = 64
WORLDS = 1_000_000  # the long rollouts and probes play worlds from this seed on: no recording plays them
SEED_STRIDE = 100_000  # the card's seed s plays worlds (and draws dream noise) from s * SEED_STRIDE on


def seed_base(seed: int) -> int:
    """Where the card's ``seed`` starts its world seeds (after ``WORLDS`` and a part's offset) and its dreams' noise
    seeds: far enough apart that two seeds share no world and no noise. Until session 34 seed s played worlds
    s, s + 1, ...: seed 1 shared 7 of seed 0's 8 starts, seeds 0, 1 and 2 six (seed 0 plays what it played)."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"the report's seed must be an integer >= 0, got {seed!r}")
    return SEED_STRIDE * int(seed)


RESAMPLES = 30  # bootstrap draws of the starts for ``mean_se``


def _real_rollout(seed: int, shape, ctx: int, steps: int):
    """The explorer's play from a fresh start: (frames (ctx + steps, H, W, 3), actions (ctx - 1 + steps, A))."""
    import gymnasium as gym

    from worldsim.policies import ExplorerPolicy

    env = gym.make(VOXEL, width=shape[1], height=shape[0], max_episode_steps=10**6)
    pol = ExplorerPolicy(env.action_space, seed=seed)
    obs, info = env.reset(seed=seed)
    frames, actions = [obs], []
    for _ in range(ctx - 1 + steps):
        a = pol.act_single(obs, info)
        obs, _, _, _, info = env.step(a)
        frames.append(obs)
        actions.append(a)
    env.close()
    return np.stack(frames), np.stack(actions)


def long_part(wm, idm, starts: int, steps: int, seed: int) -> dict:
    import torch

    from worldsim.dream import Dream
    from worldsim.policies import ExplorerPolicy

    ctx = wm.window - 1
    shape = wm.frame_shape
    base = seed_base(seed)
    runs = [_real_rollout(WORLDS + base + i, shape, ctx, steps) for i in range(starts)]
    other = np.stack([_real_rollout(WORLDS + base + 10_000 + i, shape, ctx, steps)[0][ctx:] for i in range(starts)])
    real = np.stack([f[ctx:] for f, _ in runs])  # (S, steps, H, W, 3)
    clip_f = np.stack([f[:ctx] for f, _ in runs])
    clip_a = np.stack([a[: ctx - 1] for _, a in runs])
    dreams = Dream(wm, starts, seeds=[base + i for i in range(starts)])
    flat = wm.flat_action_runs(clip_a)
    dreams.start(range(starts), clip_f, flat, pitch=[0] * starts)  # (from a reset: level)
    pol = ExplorerPolicy(wm.action_space, num_envs=starts, seed=seed)
    obs, dream = clip_f[:, -1], []
    with torch.no_grad():
        for _ in range(steps):
            obs = dreams.step(pol.act(obs, None)).frames
            dream.append(obs)
    dream = np.stack(dream, 1)
    blurred = box_blur(real)
    copy_first = np.repeat(clip_f[:, -1:], steps, 1)
    refs = {"dream": dream, "real_other_seed": other, "real_blurred": blurred, "copy_first_frame": copy_first}
    out: dict = {"starts": starts, "steps": steps, "buckets": []}
    features = []  # per bucket: the dream's and the real world's frame features, (starts, BUCKET, D) each
    feat = (lambda x: idm.frame_features(x.reshape(-1, *shape))) if idm is not None else None
    for b in range(steps // BUCKET):
        sl = slice(b * BUCKET, (b + 1) * BUCKET)
        r = real[:, sl]
        row = {"steps": [b * BUCKET + 1, (b + 1) * BUCKET]}
        fr = feat(r) if feat else None
        for name, x in refs.items():
            row[name] = {"sharpness_ratio": round(sharpness(x[:, sl]) / max(sharpness(r), 1e-9), 4),
                         "colour_js": round(colour_js(x[:, sl], r), 4)}  # fmt: skip
            if feat:
                fx = feat(x[:, sl])
                row[name]["frechet"] = round(frechet_distance(fx, fr), 3)
                if name == "dream":
                    features.append((fx.reshape(starts, BUCKET, -1), fr.reshape(starts, BUCKET, -1)))
        out["buckets"].append(row)
    out["mean_se"] = mean_se(dream, real, features, seed)
    js_last = [colour_js(dream[i, -BUCKET:], real[i, -BUCKET:]) for i in range(starts)]
    out["strips"] = {"worst": int(np.argmax(js_last)), "best": int(np.argmin(js_last))}
    out["_frames"] = (real, dream)
    return out


def mean_se(dream: np.ndarray, real: np.ndarray, features: list, seed: int, resamples: int = RESAMPLES) -> dict:
    """The standard error of the dream's mean over the buckets of each measure (sharpness ratio, colour JS and,
    with ``features``, Frechet): the starts drawn with replacement, the same draw for both worlds. {} for one start."""
    starts, steps = dream.shape[:2]
    if starts < 2:
        return {}
    buckets = [slice(b * BUCKET, (b + 1) * BUCKET) for b in range(steps // BUCKET)]
    hist = {w: np.array([[colour_histogram(x[i, sl]) for i in range(starts)] for sl in buckets])
            for w, x in (("dream", dream), ("real", real))}  # (buckets, starts, bins)  # fmt: skip
    sharp = {w: np.array([[sharpness(x[i, sl]) for i in range(starts)] for sl in buckets])
             for w, x in (("dream", dream), ("real", real))}  # fmt: skip
    rng = np.random.default_rng(seed)
    draws: dict = {"sharpness_ratio": [], "colour_js": [], "frechet": []}
    for _ in range(resamples):
        pick = rng.integers(0, starts, starts)
        draws["sharpness_ratio"].append(np.mean([sharp["dream"][b, pick].mean() / max(sharp["real"][b, pick].mean(),
                                                 1e-9) for b in range(len(buckets))]))  # fmt: skip
        draws["colour_js"].append(np.mean([js_bits(hist["dream"][b, pick].mean(0), hist["real"][b, pick].mean(0))
                                           for b in range(len(buckets))]))  # fmt: skip
        if features:
            draws["frechet"].append(np.mean([frechet_distance(fd[pick].reshape(-1, fd.shape[-1]),
                                                              fr[pick].reshape(-1, fr.shape[-1]))
                                             for fd, fr in features]))  # fmt: skip
    return {m: round(float(np.std(v, ddof=1)), 4) for m, v in draws.items() if v}
