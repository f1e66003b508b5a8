"""`worldsim bench soak` (`make soak`): a long run of the dream, judged against the real world under the same play
(finite values, flat memory, the real world's brightness and contrast). Prints one JSON object as its last line."""

from __future__ import annotations

import time

import numpy as np

from worldsim.eval.long_run import seed_base
from worldsim.eval.speed import _world_model


def _rss_mb() -> float:
    """This process's resident memory in MB (Linux /proc; 0 elsewhere)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _contrast(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, C) uint8 -> (...): a frame's spatial standard deviation, mean over its colour channels."""
    f = frames.reshape(-1, frames.shape[-3] * frames.shape[-2], frames.shape[-1]).astype(np.float32)
    return f.std(axis=1).mean(axis=-1).reshape(frames.shape[:-3])


def _real_play(real, runs: int, steps: int, seed: int, context: int, keep_every: int = 0) -> tuple[np.ndarray, ...]:
    """The real world under the soak's play: ``runs`` runs (run r from ``reset(seed=seed + r)``, its random actions
    from an action space seeded the same) of ``context - 1`` opening steps and then ``steps`` judged ones, without an
    episode limit (``real`` is made without one: only the world's own termination resets it). Returns each judged
    frame's brightness and contrast, (runs, steps) each, the openings' ``context`` frames (runs, context, H, W, 3)
    that the dreams start from, every action (runs, context - 1 + steps, ...), so that each dream plays on from
    the very view its real run stood at, with the same actions, with ``keep_every`` the first run's judged frames
    at every ``keep_every``-th step (its last), (steps // keep_every, H, W, 3) (else None), and whether the player
    swam at each judged step (runs, steps), where the world says so (``info["in_water"]``; else all False)."""
    bright, flat = np.zeros((runs, steps), np.float32), np.zeros((runs, steps), np.float32)
    water = np.zeros((runs, steps), bool)
    clips, actions, kept = [], [], []
    for r in range(runs):
        real.action_space.seed(seed + r)
        obs, _ = real.reset(seed=seed + r)
        frames, acts = [obs], []
        for i in range(context - 1 + steps):
            a = real.action_space.sample()
            obs, _, term, trunc, info = real.step(a)
            acts.append(a)
            if i < context - 1:
                frames.append(obs)
            else:
                bright[r, i - context + 1], flat[r, i - context + 1] = obs.mean(), _contrast(obs)
                water[r, i - context + 1] = bool(info.get("in_water", False))
                if r == 0 and keep_every and (i - context + 2) % keep_every == 0:
                    kept.append(obs)
            if term or trunc:
                real.reset()
        clips.append(np.stack(frames))
        actions.append(np.stack(acts))
    return bright, flat, np.stack(clips), np.stack(actions), (np.stack(kept) if kept else None), water


def _window_means(x: np.ndarray, window: int) -> np.ndarray:
    """(..., steps) -> (..., steps // window): the mean of each whole window."""
    n = x.shape[-1] // window
    return x[..., : n * window].reshape(*x.shape[:-1], n, window).mean(axis=-1)


def soak(model: str = "voxel", steps: int = 10_000, num_envs: int = 32, env_steps: int = 2_000, seed: int = 0,
         threads: int = 2, window: int = 500, std_floor: float | None = None, mean_band: float | None = None,
         real_runs: int = 4, memory: bool | None = None, sheet: str | None = None) -> dict:  # fmt: skip
    """A long run of the dream as users run it: one env for ``steps`` steps and a vector env of ``num_envs`` for
    ``env_steps``, random actions, episodes never ending, each dream started from the opening of a real run (its first
    ``wm.window - 1`` frames; the single dream the first run's) and driven by that run's actions (until session 29 the
    dreams started from the model's shipped clips, explorer play often inside a tree crown, and were judged against real
    runs from fresh spawns: a different start, not the same play). Checks that everything stays finite, that memory
    stays flat (growth after the first window), and that the frames keep the real world's brightness and contrast (a
    frame's mean pixel value; its spatial standard deviation per colour channel), each judged against the real world
    under the same play, window for window: for the single dream ``real_runs`` real runs of ``steps`` steps, for the
    vector env ``num_envs`` real runs of ``env_steps`` averaged as the vector env's windows are. A window's contrast
    must lie above the 5th percentile of the real windows'; its brightness, for the single dream, within the 5th-95th
    percentile of the real runs' windows, and for the vector env within three standard errors of the real average of
    that window (the spread between real runs, for a difference of two means of ``num_envs`` runs). At most a quarter of
    the dream's windows may miss each bar (a bar every window must clear fails the real world itself, whose flattest 500
    steps can sit in a leaf wall). A dream pinned at one flat colour, or one that drifts darker or brighter than the
    world it dreams, fails here. Until session 28 a window's brightness had only to lie within the 1st-99th percentile
    of single real frames, which a dream at half the world's brightness passed. ``std_floor``, ``mean_band`` and
    ``memory`` as in ``bench_dream``. ``sheet``: a PNG path for a contact sheet of the single dream beside its real
    run, a pair of frames (real, dream) at the end of every window, to see what a failing window dreamt (the
    voxel dream's dark attractor, session 35: inside a leaf canopy while the real player swims in the sea)."""
    import torch

    from worldsim.envs.world_model_env import WorldModelEnv
    from worldsim.envs.world_model_vector_env import WorldModelVectorEnv

    if real_runs < 1 or num_envs < 2 or window < 1 or min(steps, env_steps) < window:
        raise ValueError(f"soak: real_runs >= 1, num_envs >= 2 and steps, env_steps >= window >= 1, got {real_runs=}, "
                         f"{num_envs=}, {window=}, {steps=}, {env_steps=}")  # fmt: skip
    torch.set_num_threads(threads)
    wm = _world_model(model)
    wm.memory = memory
    wm.set_sampler_limits(std_floor, mean_band)
    from worldsim.envs import make_env, real_env_of

    real = make_env(real_env_of(wm), wm.frame_shape, max_episode_steps=10**9)  # as long as the dream: no limit
    context = wm.window - 1
    base = seed_base(seed)  # two seeds share no real run (until session 34 seed 1 shared 35 of seed 0's 36)
    bright_1, flat_1, clips_1, acts_1, real_kept, water_1 = _real_play(real, real_runs, steps, base, context,
                                                                       window if sheet else 0)  # fmt: skip
    bright_n, flat_n, clips_n, acts_n, _, water_n = _real_play(real, num_envs, env_steps, base + real_runs, context)
    real_windows = {"single": _window_means(flat_1, window), "vector": _window_means(flat_n.mean(axis=0), window)}
    # the share of steps the real player swam, by window (the single dream's run; the vector env's average): where
    # the voxel dream loses the world (session 36: it draws a swimmer's view as if walking ashore)
    swam = {"single": _window_means(water_1[0].astype(float), window), "vector": _window_means(water_n.mean(0), window)}
    bright_runs = _window_means(bright_n, window)  # (num_envs, windows): each real run's, for the spread between runs
    real_bright = {"single": _window_means(bright_1, window), "vector": bright_runs.mean(axis=0)}
    bars = {k: float(np.percentile(v, 5)) for k, v in real_windows.items()}
    # the single dream's brightness against single real runs' windows (5th-95th percentile); the vector env's average
    # against the real runs' average: within three standard errors of a difference of two means of num_envs runs
    lo, hi = (float(x) for x in np.percentile(real_bright["single"], [5, 95]))
    spread = float(np.sqrt(bright_runs.var(axis=0, ddof=1).mean()))
    tol = 3.0 * spread * np.sqrt(2.0 / num_envs)
    ranges = {
        "single": [[lo, hi]] * len(real_bright["single"][0]),
        "vector": [[float(m - tol), float(m + tol)] for m in real_bright["vector"]],
    }
    out = {"benchmark": "soak", "model": model, "std_floor": wm.sampler_cfg.std_floor, "real_runs": real_runs,
           "real_brightness_by_window": {k: np.round(v, 1).tolist() for k, v in real_bright.items()},
           "real_contrast_p5": round(float(np.percentile(np.concatenate([flat_1.ravel(), flat_n.ravel()]), 5)), 1),
           "real_contrast_by_window": {k: np.round(v, 1).tolist() for k, v in real_windows.items()},
           "real_in_water_by_window": {k: np.round(v, 2).tolist() for k, v in swam.items()}}  # fmt: skip

    def run(label, env, n, clips, acts):
        # each dream starts from its real run's opening (the frames and the actions between them) and plays on
        # with that run's actions: the same start and the same play as the real world it is judged against
        batch = len(clips)
        for i in range(batch):
            opening = {"frames": clips[i], "actions": acts[i, : context - 1], "pitch": 0}  # (a reset: level)
            mask = {} if batch == 1 else {"reset_mask": np.arange(batch) == i}  # the single env has no mask
            env.reset(seed=base, options={**opening, **mask})
        bright, flat, rss, finite, t0 = np.zeros(n), np.zeros(n), [], True, time.perf_counter()
        kept = []
        for i in range(n):
            a = acts[:, context - 1 + i]
            frame, r, term, trunc, info = env.step(a[0] if batch == 1 else a)
            finite &= bool(np.isfinite(r).all()) and bool(np.isfinite(info["termination_prob"]).all())
            bright[i], flat[i] = np.mean(frame), _contrast(frame).mean()
            if (i + 1) % window == 0:
                rss.append(round(_rss_mb(), 1))
                if batch == 1:  # the single dream's, for the sheet
                    kept.append(frame)
        means, contrasts = (np.round(_window_means(x, window), 1).tolist() for x in (bright, flat))
        growth = rss[-1] - rss[0] if len(rss) > 1 else 0.0
        below = sum(c < bars[label] for c in contrasts)
        outside = sum(not lo <= m <= hi for m, (lo, hi) in zip(means, ranges[label]))
        out[label] = {"steps": n, "batch": batch, "frames_per_s": round(n * batch / (time.perf_counter() - t0), 1),
                      "finite": finite, "brightness_by_window": means, "contrast_by_window": contrasts,
                      "rss_mb_by_window": rss, "rss_growth_mb": round(growth, 1),
                      "brightness_range_by_window": np.round(ranges[label], 1).tolist(),
                      "windows_outside_range": outside,
                      "brightness_kept": outside <= len(means) / 4,
                      "contrast_bar": round(bars[label], 1), "windows_below_bar": below,
                      "contrast_kept": below <= len(contrasts) / 4}  # fmt: skip
        return np.stack(kept) if kept else None

    # episodes never end during a soak: no horizon, no termination
    dreamt = run("single", WorldModelEnv(wm, horizon=10**9, termination_threshold=2.0), steps, clips_1[:1],
                 acts_1[:1])  # fmt: skip
    if sheet:
        from worldsim.utils.media import contact_sheet, save_png

        pairs = np.stack([real_kept, dreamt], axis=1).reshape(-1, *dreamt.shape[1:])  # real, dream, real, dream, ...
        out["sheet"] = str(save_png(sheet, contact_sheet(pairs, cols=10)))
    vector = WorldModelVectorEnv(num_envs, wm, horizon=10**9, termination_threshold=2.0)
    run("vector", vector, env_steps, clips_n, acts_n)
    checks = [out[k][c] for k in ("single", "vector") for c in ("finite", "brightness_kept", "contrast_kept")]
    checks += [out[k]["rss_growth_mb"] < 100 for k in ("single", "vector")]
    out["passed"] = all(checks)
    return out
