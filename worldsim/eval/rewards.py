"""Part 5 of the report card: does the dream give the world's rewards and terminations?

Precision and recall of the nonzero rewards and of the terminations, on held-out real transitions (the model
reading the real frames) and on dreamed ones (the real reward at the same step as the label). ``worldsim report``
runs it; ``reward_part`` is usable on its own.
"""

from __future__ import annotations

import numpy as np

from worldsim.eval.long_run import seed_base


def snap(pred: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each predicted reward as the nearest of ``values`` (what a regressed reward says, read as the world's)."""
    return values[np.abs(np.asarray(pred, dtype=np.float64)[..., None] - values).argmin(-1)]


def event_scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Precision and recall of the nonzero entries of ``pred`` against ``truth`` (a hit: nonzero and equal)."""
    pred, truth = np.asarray(pred, dtype=np.float64).ravel(), np.asarray(truth, dtype=np.float64).ravel()
    hits = int(((pred != 0) & (pred == truth)).sum())
    said, real = int((pred != 0).sum()), int((truth != 0).sum())
    return {"precision": round(hits / said, 4) if said else None, "recall": round(hits / real, 4) if real else None,
            "predicted": said, "real": real, "hits": hits, "transitions": int(len(truth))}  # fmt: skip


def reward_part(wm, dataset_id, root, split, windows: int, clips: int, horizon: int, seed: int) -> dict:
    """Does the dream give the world's rewards and terminations? Precision and recall of the nonzero rewards and
    of the terminations (probability past the dream's threshold) on held-out real transitions, the model reading
    the real frames (teacher-forced, at the context noise level a dream step reads them at; the reward model, where
    the world model has one, reads the real frame pairs), and on dreamed
    transitions driven by the real actions, with the real world's reward at the same step as the label (half the
    clips chosen to hold a reward). A regressed reward counts as the nearest of the recording's reward values."""
    import torch

    from worldsim.data.dataset import load_held_out
    from worldsim.diffusion import add_noise
    from worldsim.dream import TERMINATION_THRESHOLD, rollout

    store = load_held_out(dataset_id, root, *split, wm.frame_shape)
    values = np.union1d(np.unique(store.rewards), [0.0])
    length, ctx = wm.window, wm.window - 1
    starts = store.window_starts(length)
    ep = np.searchsorted(store.ep_start, starts, side="right") - 1
    starts = starts[(starts - store.ep_start[ep]) % (length - 1) == 0]  # windows that tile each episode
    rng = np.random.default_rng(seed)
    if len(starts) > windows:
        starts = np.sort(rng.choice(starts, windows, replace=False))
    gen = torch.Generator(device=wm.device).manual_seed(seed)
    pred_r, pred_t, true_r, true_t = [], [], [], []
    for i in range(0, len(starts), 32):
        idx = starts[i : i + 32, None] + np.arange(length)[None]
        z = wm.encode(store.frames[idx])  # (B, L, C, h, w)
        t = torch.full(z.shape[:2], wm.sampler_cfg.context_noise, device=wm.device)
        x = add_noise(z, t, torch.randn(z.shape, generator=gen, device=wm.device))
        acts = torch.zeros(*z.shape[:2], wm.dit.action_width, device=wm.device)
        acts[:, 1:] = torch.as_tensor(store.actions[idx[:, :-1]], dtype=torch.float32, device=wm.device)
        has = torch.ones(z.shape[:2], dtype=torch.bool, device=wm.device)
        has[:, 0] = False
        with torch.no_grad(), wm.amp(len(x)):
            _, r, term = wm.dit(x, t, acts, has)
        if wm.reward_model is not None:  # the dream's rewards come from the reward model: score that
            before, after = store.frames[idx[:, :-1]], store.frames[idx[:, 1:]]
            paid = wm.reward_model.predict(
                before.reshape(-1, *before.shape[2:]),
                after.reshape(-1, *after.shape[2:]),
                store.actions[idx[:, :-1]].reshape(-1, store.actions.shape[-1]),
            )
            pred_r.append(paid.reshape(len(idx), -1))
        else:
            pred_r.append(wm.dit.reward_value(r)[:, 1:].float().cpu().numpy())
        pred_t.append(torch.sigmoid(term)[:, 1:].float().cpu().numpy() > TERMINATION_THRESHOLD)
        true_r.append(store.rewards[idx[:, :-1]])
        true_t.append(store.terminations[idx[:, :-1]])
    out = {"reward_values": values.tolist(), "classes": bool(wm.dit.cfg.reward_values or wm.reward_model is not None),
           "source": "reward model" if wm.reward_model is not None else "DiT head",
           "real": {"reward": event_scores(snap(np.concatenate(pred_r), values), np.concatenate(true_r)),
                    "termination": event_scores(np.concatenate(pred_t), np.concatenate(true_t))}}  # fmt: skip
    # dreams driven by the real actions, half of them from clips with a reward ahead
    starts = store.window_starts(ctx + horizon)
    ahead = np.array([np.any(store.rewards[s + ctx - 1 : s + ctx - 1 + horizon] != 0) for s in starts], dtype=bool)
    rewarded, other = starts[ahead], starts[~ahead]
    half = min(clips // 2, len(rewarded))
    picks = np.concatenate([rng.choice(rewarded, half, replace=False) if half else np.zeros(0, np.int64),
                            rng.choice(other, min(clips - half, len(other)), replace=False)])  # fmt: skip
    picks = picks.astype(np.int64)
    idx = picks[:, None] + np.arange(ctx + horizon)[None]
    _, r, p = rollout(
        wm, store.frames[idx], store.actions[idx[:, :-1]], horizon, seed_base(seed), context=ctx, outcomes=True
    )
    truth = store.rewards[idx[:, ctx - 1 : -1]]
    out["dream"] = {
        "clips": int(len(picks)),
        "clips_with_reward": int(half),
        "horizon": horizon,
        "reward": event_scores(snap(r, values), truth),
        "termination": event_scores(p > TERMINATION_THRESHOLD, store.terminations[idx[:, ctx - 1 : -1]]),
    }
    return out


def held_break_part(wm, env_id: str, clips: int, hold: int, seed: int, worlds: int) -> dict:
    """Is a log paid once? From moments where the scripted explorer (reading the real world's target block) is
    about to break a log, in worlds from seed ``worlds`` on, *break* is held for ``hold`` steps with nothing else,
    in the real world and in the dream from the same start clip. The real world pays +1 for the log and then
    nothing (unless another log comes in reach); a reward head that learned "break in front of a log pays" instead
    of "a log that vanished pays" pays on every press: the exploit a policy trained in the dream finds first.
    Returns the mean return over the held steps in each world, and per step."""
    import gymnasium as gym

    from worldsim.dream import rollout
    from worldsim.envs.voxel.blocks import LOG
    from worldsim.models.pitch import pitch_at
    from worldsim.policies import ExplorerPolicy
    from worldsim.policies.explorer import BREAK, CAM_NOOP, NOOP

    h, w = wm.frame_shape[:2]
    env = gym.make(env_id, width=w, height=h, max_episode_steps=10**6)
    ctx = wm.window - 1
    press = np.array([NOOP, CAM_NOOP, BREAK])
    frames, actions, real, pitches = [], [], [], []
    for k in range(4 * clips):
        if len(frames) == clips:
            break
        pol = ExplorerPolicy(env.action_space, seed=seed_base(seed) + k)
        obs, info = env.reset(seed=worlds + seed_base(seed) + k)
        shown, acts = [obs], []  # (from a reset: the camera level)
        for _ in range(ctx + 400):
            a = pol.act_single(obs, info)
            if len(shown) >= ctx and a[2] == BREAK and int(info["target_block"]) == LOG:
                frames.append(np.stack(shown[-ctx:]))
                pitches.append(pitch_at(wm.dit.pitch_rule, acts, len(shown) - ctx))
                paid = [float(env.step(press)[1]) for _ in range(hold)]
                actions.append(np.stack(acts[len(acts) - (ctx - 1) :] + [press] * hold))
                real.append(paid)
                break
            obs, _, _, _, info = env.step(a)
            shown.append(obs)
            acts.append(a)
    env.close()
    if not frames:
        return {"clips": 0}
    flat = wm.flat_action_runs(np.stack(actions))
    _, dreamed, _ = rollout(
        wm, np.stack(frames), flat, hold, seed_base(seed), context=ctx, outcomes=True, pitch=pitches
    )
    real = np.asarray(real)
    return {"clips": len(frames), "hold": hold, "real_return": round(float(real.sum(1).mean()), 3),
            "dream_return": round(float(dreamed.sum(1).mean()), 3), "real_per_step": real.mean(0).round(3).tolist(),
            "dream_per_step": dreamed.mean(0).round(3).tolist()}  # fmt: skip
