"""`worldsim report`: the world-model report card, judged as its users meet a dream, not by PSNR alone.

    worldsim report model=voxel                    # report.json + report.png under outputs/report (~10 min here)
    worldsim report model=runs/dit-voxel quick=true
    worldsim report model=voxel parts=[long] seed=1  # one part alone, scored as in the whole card

Every part runs on held-out play that no training recording used (the split every stage uses) or on worlds no
recording played (seeds from ``WORLDS`` on), deterministically under ``seed``:
1. **Accuracy vs horizon**: PSNR and SSIM at steps 1..``horizon`` against copying the last real frame, on
   random-action and on explorer play, and the PSNR gap between the true actions and another clip's.
2. **Does it stay a world** (``eval/long_run.py``): from the same start the explorer plays ``long_steps`` steps
   in the real world and in the dream (acting on what it sees there). Per 64-step bucket: the dream's sharpness
   over the real world's, the Jensen-Shannon divergence of their colour histograms, and the Frechet distance of
   their frame features (the IDM's encoder), beside the same for a second real rollout (other seeds), a blurred
   real rollout, and a dream that repeats its first frame; and the standard error of the dream's mean over the
   buckets, by a bootstrap over the starts.
3. **Does it follow the actions**: the inverse-dynamics model (``worldsim train-idm``) reads the action off each
   dreamed transition of the random-action clips; its accuracy there against on the real transitions of the same
   clips (the ceiling), per action column and value.
4. **Does it remember** (voxel world, against its ground truth): a full 360-degree turn; walking out and back;
   looking 90 degrees away for k steps and back (object permanence: PSNR, and the share of pixels whose colour
   class is the block ``VoxelEnv.block_classes`` says is there); breaking a block and placing one, looking away
   and back (is the change still there, against the same world without it); each probe stands still for
   ``memory_settle`` steps first, so that the view it turns from is one a standing player finds again. Each with the
   copy baseline (the real frame just before the way back: what a dream with no memory could at best keep showing)
   and the oracle (the real frame through the VAE, the best a dream in this latent space can draw). And whether it
   stays put: the no-op action for 64 steps, the dream against the (still) real world (``still_part``).
5. **Does it give the world's rewards**: precision and recall of the nonzero rewards and of the terminations, on
   held-out real transitions (the model reading the real frames) and on dreamed ones (the real reward at the same
   step as the label); and, in the voxel world, whether a log is paid once: *break* held on for 16 steps from
   the moment the explorer breaks a log, the return in each world (``worldsim/eval/rewards.py``).
6. **Does it keep the pitch under long random play**: sky and brightness by pitch band (``eval/random_play.py``).
7. **Does it swim**: dreams from where random play swims, against those from where it walks (``eval/swim.py``).
Every dream has the view memory where its world declares a camera pose (``worldsim.memory``: the voxel world does;
``memory=false`` judges the DiT alone). Parts that need the voxel world's ground truth, or an IDM for the world,
are skipped for other worlds, and the report says so. ``quick=true`` cuts every count (tests); ``parts`` picks
parts by name (``PARTS``), and the summary's ``long_mean`` is part 2's mean over its buckets.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from worldsim import runtime
from worldsim.eval.long_run import BUCKET, VOXEL, WORLDS, _real_rollout, long_part, seed_base
from worldsim.eval.metrics import psnr, ssim
from worldsim.eval.random_play import random_play_part, random_play_summary
from worldsim.eval.report_plot import plot_report
from worldsim.eval.rewards import held_break_part, reward_part
from worldsim.eval.swim import swim_part, swim_summary
from worldsim.eval.world_metrics import class_agreement, persistence

# published figures beside the comparable rows (their worlds and resolutions differ: anchors, not rankings)
ANCHORS = {
    "idm_accuracy_keyboard_mouse": {"Oasis": [0.77, 0.56], "MineWorld": [0.86, 0.64], "Matrix-Game": [0.95, 0.95]},
    "psnr_db_at_61_and_250_frames": {"Matrix-Game 2.0": [17.3, 9.6]},
}
SHIPPED_IDM = Path(__file__).resolve().parents[1] / "assets" / "_eval" / "voxel-idm.safetensors"


def _mean(x) -> float:
    return round(float(np.mean(x)), 4)


def _of_span(d: float | None, span: float | None) -> float | None:
    """``d`` dB as a share of the copy-to-oracle span (None where either is missing)."""
    return None if d is None or span is None else round(d / span, 4)


# ---------------------------------------------------------------------------------------------- 1 + 3: clips
def horizon_part(wm, dataset_id, root, split, policy, clips, horizon, seed, idm) -> dict:
    """PSNR/SSIM per step against copying, the true-vs-wrong action gap, and (with an IDM) action accuracy."""
    from worldsim.data.dataset import load_held_out, pick_clips
    from worldsim.dream import rollout

    store = load_held_out(dataset_id, root, *split, wm.frame_shape, policy)
    ctx = wm.window - 1
    starts = pick_clips(store, ctx + horizon, clips, seed)
    idx = starts[:, None] + np.arange(ctx + horizon)[None]
    real, acts = store.frames[idx], store.actions[idx[:, :-1]]
    dream = rollout(wm, real, acts, horizon, seed_base(seed), context=ctx)
    wrong = rollout(wm, real, np.concatenate([acts[:, : ctx - 1], np.roll(acts, 1, 0)[:, ctx - 1 :]], 1), horizon,
                    seed_base(seed), context=ctx)  # fmt: skip
    target = real[:, ctx:]
    copy = np.repeat(real[:, ctx - 1 : ctx], horizon, 1)
    flat = target.reshape(-1, *target.shape[2:])
    out = {
        "clips": len(starts),
        "psnr": psnr(dream, target).mean(0).round(3).tolist(),
        "ssim": ssim(dream.reshape(flat.shape), flat).reshape(len(starts), horizon).mean(0).round(4).tolist(),
        "psnr_copy_last": psnr(copy, target).mean(0).round(3).tolist(),
        "ssim_copy_last": ssim(copy.reshape(flat.shape), flat).reshape(len(starts), horizon).mean(0).round(4).tolist(),
        "psnr_wrong_actions": psnr(wrong, target).mean(0).round(3).tolist(),
    }
    if idm is not None:
        from worldsim.train.train_idm import accuracy_table

        true = acts[:, ctx - 1 :].reshape(-1, acts.shape[-1]).astype(np.int64)
        before_real, before_dream = real[:, ctx - 1 : -1], np.concatenate([real[:, ctx - 1 : ctx], dream[:, :-1]], 1)
        fs = (-1, *wm.frame_shape)
        real_pred = idm.predict(before_real.reshape(fs), target.reshape(fs))
        dream_pred = idm.predict(before_dream.reshape(fs), dream.reshape(fs))
        out["idm_real"] = accuracy_table(real_pred, true)
        out["idm_dream"] = accuracy_table(dream_pred, true)
        out["idm_ratio"] = {c: round(out["idm_dream"][c]["all"] / max(out["idm_real"][c]["all"], 1e-9), 4)
                            for c in out["idm_real"]}  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------- 2: long rollouts
# ------------------------------------------------------------------------------------------------- 4: memory
def _scripts(quick: bool, settle: int = 0) -> dict[str, dict]:
    """Scripted probes: actions (movement, camera, interaction) after the start clip, the step where the way back
    begins (the copy baseline's frame), and for an interaction the counterfactual without it. Each begins with
    ``settle`` no-op steps (``away``: the first step after them), so that a player the explorer's clip left in a
    jump's flight or falling lands before the camera turns: the view it turns away from is then the one it should
    find again (from a clip that ends in the air the real player lands elsewhere; session 35)."""
    right, left, noop = [0, 2, 0], [0, 1, 0], [0, 0, 0]
    out = {
        "loop_360": {"actions": [right] * 72, "back": 36},
        "walk_out_and_back": {"actions": [[1, 0, 0]] * 16 + [[2, 0, 0]] * 16, "back": 16},
    }
    for k in (8,) if quick else (8, 16, 32):
        out[f"look_away_{k}"] = {"actions": [right] * 18 + [noop] * k + [left] * 18, "back": 18 + k}
    down = [[0, 4, 0]] * 6
    brk = down + [[0, 0, 2]] + [right] * 18 + [noop] * 8 + [left] * 18
    out["break_look_away"] = {"actions": brk, "back": len(brk) - 18, "change": 6}
    place = down + [[0, 0, 2]] + [right] * 18 + [[0, 0, 3]] + [left] * 18 + [noop] * 8 + [right] * 18
    out["place_look_away"] = {"actions": place, "back": len(place) - 18, "change": 7 + 18}
    for sc in out.values():
        sc["actions"] = [noop] * settle + sc["actions"]
        sc["back"] += settle
        sc["away"] = settle
        if "change" in sc:
            sc["change"] += settle
    return out


def _replay(seed: int, shape, ctx: int, clip_actions, script) -> tuple[np.ndarray, np.ndarray]:
    """The real world from ``seed`` through the clip's actions and a script: (frames after each scripted step,
    the block classes of the last)."""
    import gymnasium as gym

    env = gym.make(VOXEL, width=shape[1], height=shape[0], max_episode_steps=10**6)
    env.reset(seed=seed)
    for a in clip_actions:
        env.step(a)
    frames = [env.step(np.asarray(a))[0] for a in script]
    classes = env.unwrapped.block_classes()
    env.close()
    return np.stack(frames), classes


def memory_part(wm, starts: int, seed: int, quick: bool, settle: int = 0) -> dict:
    from worldsim.dream import rollout

    ctx = wm.window - 1
    shape = wm.frame_shape
    base = WORLDS + seed_base(seed) + 20_000
    runs = [_real_rollout(base + i, shape, ctx, 0) for i in range(starts)]
    clip_f, clip_a = np.stack([f for f, _ in runs]), np.stack([a for _, a in runs])
    out, strips = {}, {}
    for name, sc in _scripts(quick, settle).items():
        script = np.asarray(sc["actions"])
        reals = [_replay(base + i, shape, ctx, clip_a[i], script) for i in range(starts)]
        real = np.stack([f for f, _ in reals])  # (S, L, H, W, 3)
        truth = np.stack([c for _, c in reals])
        acts = wm.flat_action_runs(np.concatenate([clip_a, np.tile(script, (starts, 1, 1))], 1)).cpu().numpy()
        dream = rollout(wm, clip_f, acts, len(script), seed_base(seed), context=ctx, pitch=[0] * starts)
        end_real, end_dream = real[:, -1], dream[:, -1]
        copy = real[:, sc["back"] - 1]
        oracle = wm.decode(wm.encode(end_real))
        row = {"steps": len(script), "settle": settle}
        # the last view before the camera turns away (the clip's last, or the last settling step's) through the VAE:
        # what a memory of it brings back at best when the camera returns (below the oracle by the real world's own
        # change: a clip that ends in the air lands elsewhere)
        before = real[:, sc["away"] - 1] if sc["away"] else clip_f[:, -1]  # the real view the probe turns from
        last_seen = wm.decode(wm.encode(before))
        # and the view the dream itself showed there (after settling: its own draw of the landing, which its memory
        # brings back; without settling the clip's real last view): the memory's reading is this one's at best
        dream_seen = dream[:, sc["away"] - 1] if sc["away"] else last_seen
        per_start = {}
        for key, x in (("dream", end_dream), ("copy_baseline", copy), ("oracle_vae", oracle), ("real", end_real),
                       ("last_seen", last_seen), ("dream_seen", dream_seen)):  # fmt: skip
            per_start[key] = psnr(x, end_real) if key != "real" else None
            row[key] = {"psnr": _mean(per_start[key]) if key != "real" else None,
                        "class_agreement": _mean(class_agreement(x, truth))}  # fmt: skip
        for key in ("dream", "last_seen", "dream_seen"):  # each start's reading: how far it lies from the mean
            row[key]["psnr_by_start"] = [round(float(v), 1) for v in per_start[key]]
        row["dream"]["psnr_se"] = _mean(per_start["dream"].std(ddof=1) / np.sqrt(starts)) if starts > 1 else None
        lo, hi = row["copy_baseline"]["psnr"], row["oracle_vae"]["psnr"]
        span = hi - lo if hi - lo > 1e-6 else None  # 0 copy, 1 oracle
        row["score"] = _of_span(row["dream"]["psnr"] - lo, span)
        row["score_se"] = _of_span(row["dream"]["psnr_se"], span)
        row["last_seen_score"] = _of_span(row["last_seen"]["psnr"] - lo, span)  # a perfect memory of the last view
        row["dream_seen_score"] = _of_span(row["dream_seen"]["psnr"] - lo, span)  # a perfect memory of the dream's
        if "change" in sc:  # the same world without the interaction
            cf_script = script.copy()
            cf_script[sc["change"]] = [0, 0, 0]
            without = np.stack([_replay(base + i, shape, ctx, clip_a[i], cf_script)[0][-1]
                                for i in range(starts)])  # fmt: skip
            for key, x in (("dream", end_dream), ("copy_baseline", copy), ("oracle_vae", oracle)):
                vals = [persistence(x[i], end_real[i], without[i]) for i in range(starts)]
                vals = [v for v in vals if v is not None]
                row[key]["persistence"] = _mean(vals) if vals else None
            row["change_visible_in"] = sum(persistence(end_real[i], end_real[i], without[i]) is not None
                                           for i in range(starts))  # fmt: skip
        out[name] = row
        strips[name] = np.stack([before[0], end_real[0], end_dream[0]])
    out["_strips"] = strips
    return out


STILL_AT = (1, 8, 16, 32, 64)  # the steps of the still probe reported


def still_part(wm, starts: int, steps: int, seed: int) -> dict:
    """Does the world stay put when nothing is done? After the explorer's context, the no-op action for ``steps``
    steps in both worlds (the real one settles in a step or two, then shows the same frame). Per step in
    ``STILL_AT``: the dream's PSNR against the real frame, the VAE oracle's (the best a dream in this latent space
    draws), the real frame's against the last context frame (how still the real world is), and the dream's
    contrast (each frame's pixel standard deviation) over the real one's: a dream that regresses to the mean loses
    contrast step by step, one that blows up gains it."""
    from worldsim.dream import rollout

    ctx = wm.window - 1
    shape = wm.frame_shape
    base = WORLDS + seed_base(seed) + 30_000
    runs = [_real_rollout(base + i, shape, ctx, 0) for i in range(starts)]
    clip_f, clip_a = np.stack([f for f, _ in runs]), np.stack([a for _, a in runs])
    noop = np.zeros((steps, clip_a.shape[-1]), dtype=np.int64)
    real = np.stack([_replay(base + i, shape, ctx, clip_a[i], noop)[0] for i in range(starts)])
    acts = wm.flat_action_runs(np.concatenate([clip_a, np.tile(noop, (starts, 1, 1))], 1))
    dream = rollout(wm, clip_f, acts, steps, seed_base(seed), context=ctx, pitch=[0] * starts)
    oracle = wm.decode(wm.encode(real))

    def contrast(x):
        return x.reshape(*x.shape[:2], -1).astype(np.float64).std(-1)  # (S, steps)

    ratio = contrast(dream) / np.maximum(contrast(real), 1e-6)
    at = [t for t in STILL_AT if t <= steps]
    return {"starts": starts, "steps": steps, "at": at,
            "dream_psnr": [_mean(psnr(dream[:, t - 1], real[:, t - 1])) for t in at],
            "oracle_vae_psnr": [_mean(psnr(oracle[:, t - 1], real[:, t - 1])) for t in at],
            "real_vs_context_psnr": [_mean(np.minimum(psnr(real[:, t - 1], clip_f[:, -1]), 99.0)) for t in at],
            "dream_contrast_over_real": [round(float(ratio[:, t - 1].mean()), 4) for t in at]}  # fmt: skip


# ---------------------------------------------------------------------------------------------------- report
def report(model: str = "voxel", dataset_id: str | None = None, root: str = "data/minari", idm: str | None = None,
           quick: bool = False, seed: int = 0, out: str = "outputs/report", eval_fraction: float = 0.05,
           split_seed: int = 0, clips: int | None = None, horizon: int | None = None, long_steps: int | None = None,
           long_starts: int | None = None, memory_starts: int | None = None, sampler_steps: int | None = None,
           context_noise: float | None = None, std_floor: float | None = None,
           mean_band: float | None = None, device: str = "cpu",
           dtype: str | None = None, compile: bool = False, threads: int = 2,
           memory: bool | None = None, parts: list[str] | None = None,
           random_play_starts: int | None = None, memory_settle: int = 0) -> dict:  # fmt: skip
    import torch

    parts = _parts(parts)
    torch.set_num_threads(threads)
    from worldsim.dream import memory_pose
    from worldsim.envs.world_model_env import check_compatible
    from worldsim.world_model import load_world_model

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    wm = load_world_model(model, device=device, dtype=dtype, compile=compile)
    wm.memory = memory
    changes = {"steps": int(sampler_steps)} if sampler_steps else {}
    if context_noise is not None:
        changes["context_noise"] = float(context_noise)
    if changes:  # checked as the sampler's own settings
        from dataclasses import replace

        wm.sampler_cfg = replace(wm.sampler_cfg, **changes)
    wm.set_sampler_limits(std_floor, mean_band, root)  # from real frames: the folder's clips, or the dataset's
    dataset_id = dataset_id or wm.info.get("dataset_id")
    clips = clips or (8 if quick else 64)
    horizon = horizon or (16 if quick else 32)
    long_steps = long_steps or (128 if quick else 512)
    long_starts = long_starts or (2 if quick else 8)
    if long_steps < BUCKET:
        raise ValueError(f"long_steps must be at least {BUCKET} (one bucket of the long rollouts), got {long_steps}")
    memory_starts = memory_starts or (2 if quick else 8)
    if isinstance(memory_settle, bool) or not isinstance(memory_settle, int) or memory_settle < 0:
        raise ValueError(f"memory_settle must be a whole number of steps >= 0, got {memory_settle!r}")
    result: dict = {"model": str(model), "dataset_id": dataset_id, "seed": seed, "quick": quick,
                    "sampler_steps": wm.sampler_cfg.steps, "context_noise": wm.sampler_cfg.context_noise,
                    "std_floor": wm.sampler_cfg.std_floor,
                    "mean_band": wm.sampler_cfg.mean_band, "view_memory": memory_pose(wm) is not None,
                    "reward_source": "reward model" if wm.reward_model is not None else "DiT head", "skipped": {},
                    "dtype": {f"batch {b}+": runtime.dtype_name(wm.dtype_for(b))
                              for b in (1, runtime.CPU_BF16_MIN_BATCH)},
                    "anchors": ANCHORS}  # fmt: skip
    try:
        check_compatible(wm, VOXEL)
        voxel = True
    except Exception as exc:  # another world: the parts that replay the voxel world are skipped
        voxel = False
        result["skipped"]["voxel_world"] = f"not a voxel-world model ({exc}): long rollouts and memory skipped"
    idm_path = Path(idm) if idm else SHIPPED_IDM
    net = None
    if idm_path.is_file():
        from worldsim.models.idm import load_idm

        net = load_idm(str(idm_path))
        if net.cfg.resolution != tuple(wm.frame_shape[:2]) or net.columns != _columns(wm.action_space):
            result["skipped"]["idm"] = f"the IDM {idm_path} reads another world's frames or actions"
            net = None
    else:
        result["skipped"]["idm"] = f"no inverse-dynamics model at {idm_path} (worldsim train-idm makes one)"
    result["idm"] = str(idm_path) if net is not None else None

    split = (eval_fraction, split_seed)
    result["parts"] = sorted(parts, key=PARTS.index)
    result["horizon"] = {}
    for policy in ("random", "explorer") if "horizon" in parts else ():
        try:
            result["horizon"][policy] = horizon_part(wm, dataset_id, root, split, policy, clips, horizon, seed,
                                                     net if policy == "random" else None)  # fmt: skip
        except (ValueError, FileNotFoundError) as exc:
            result["skipped"][f"horizon_{policy}"] = str(exc)
    if "rewards" in parts:
        try:
            result["rewards"] = reward_part(wm, dataset_id, root, split, 16 if quick else 1000,
                                            4 if quick else 64, 8 if quick else 16, seed)  # fmt: skip
        except (ValueError, FileNotFoundError) as exc:
            result["skipped"]["rewards"] = str(exc)
    if voxel:  # each part seeds its own draws: alone it scores as in the whole card
        if "long" in parts:
            result["long"] = long_part(wm, net, long_starts, long_steps, seed)
        if "memory" in parts:
            result["memory"] = memory_part(wm, memory_starts, seed, quick, memory_settle)
        if "still" in parts:
            result["still"] = still_part(wm, memory_starts, 16 if quick else 64, seed)
        if "held_break" in parts:
            result["held_break"] = held_break_part(wm, VOXEL, 2 if quick else 16, 4 if quick else 16, seed, WORLDS)
        if "random_play" in parts:
            starts = random_play_starts or (2 if quick else 8)
            result["random_play"] = random_play_part(wm, VOXEL, starts, 96 if quick else 600, seed, WORLDS)
        if "swim" in parts:  # runs, steps, horizon, starts per group
            sizes = (2, 400, 8, 2) if quick else (8, 1600, 20, 8)
            result["swim"] = swim_part(wm, VOXEL, *sizes, seed, WORLDS)
    result["summary"] = _summary(result)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_report(result, out_dir / "report.png")
    (out_dir / "report.json").write_text(json.dumps(_public(result), indent=1))
    return {"benchmark": "report", **result["summary"], "seconds": result["seconds"], "out": str(out_dir)}


PARTS = ("horizon", "rewards", "long", "memory", "still", "held_break", "random_play", "swim")


def _parts(parts) -> set[str]:
    """The card's parts to run (None: all), checked by name."""
    if parts is None:
        return set(PARTS)
    if isinstance(parts, str) or not all(isinstance(p, str) for p in parts):
        raise TypeError(f"report parts must be a list of names from {list(PARTS)}, got {parts!r}")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(f"report parts must be a non-empty list of {list(PARTS)}, got {list(parts)}")
    return set(parts)


def _columns(space) -> list[int] | None:
    from worldsim.models.idm import columns

    try:
        return columns(space)
    except ValueError:
        return None


def _public(x):
    """The result without the frames kept for the picture."""
    if isinstance(x, dict):
        return {k: _public(v) for k, v in x.items() if not k.startswith("_")}
    return x


def _summary(r: dict) -> dict:
    s: dict = {}
    for policy, h in r.get("horizon", {}).items():
        k = min(8, len(h["psnr"])) - 1
        s[f"{policy}_psnr_next_frame"] = h["psnr"][0]
        s[f"{policy}_psnr_at_8"] = h["psnr"][k]
        s[f"{policy}_gain_over_copy_at_8"] = round(h["psnr"][k] - h["psnr_copy_last"][k], 3)
        s[f"{policy}_action_gap_at_8"] = round(h["psnr"][k] - h["psnr_wrong_actions"][k], 3)
        if "idm_ratio" in h:
            s["idm_dream_over_real"] = h["idm_ratio"]
    if "rewards" in r:
        s["reward_precision_recall"] = {
            where: [r["rewards"][where]["reward"]["precision"], r["rewards"][where]["reward"]["recall"]]
            for where in ("real", "dream")
        }
    if r.get("held_break", {}).get("clips"):
        s["held_break_return"] = [r["held_break"]["real_return"], r["held_break"]["dream_return"]]
    if "long" in r:
        last = r["long"]["buckets"][-1]
        s["last_bucket"] = {name: last[name] for name in ("dream", "real_other_seed")}
        s["long_mean"] = {m: round(float(np.mean([b["dream"][m] for b in r["long"]["buckets"]])), 3)
                          for m in ("sharpness_ratio", "colour_js", "frechet") if m in last["dream"]}  # fmt: skip
        s["long_mean_se"] = r["long"].get("mean_se", {})
    if "random_play" in r:
        s.update(random_play_summary(r["random_play"]))
    if "swim" in r:
        s.update(swim_summary(r["swim"]))
    if "still" in r:
        s["still_psnr"] = {str(t): v for t, v in zip(r["still"]["at"], r["still"]["dream_psnr"])}
        s["still_contrast_over_real"] = r["still"]["dream_contrast_over_real"][-1]
    if "memory" in r:
        m = r["memory"]
        s["loop_360_psnr"] = m["loop_360"]["dream"]["psnr"]
        s["loop_360_psnr_se"] = m["loop_360"]["dream"]["psnr_se"]
        s["permanence_scores"] = {k: v["score"] for k, v in m.items() if k.startswith("look_away") and "score" in v}
        s["permanence_scores_se"] = {k: v["score_se"] for k, v in m.items()
                                     if k.startswith("look_away") and "score_se" in v}  # fmt: skip
        s["memory_settle"] = m["loop_360"].get("settle", 0)
        # what a perfect memory of the view turned from would score (the real world moves on: a landing)
        s["loop_360_last_seen_psnr"] = m["loop_360"]["last_seen"]["psnr"]
        s["permanence_last_seen_scores"] = {k: v["last_seen_score"] for k, v in m.items()
                                            if k.startswith("look_away") and "last_seen_score" in v}  # fmt: skip
        s["persistence"] = {k: m[k]["dream"].get("persistence") for k in ("break_look_away", "place_look_away")}
    return s
