"""The world-model half of `worldsim ppo rounds=N`: a DIAMOND-style loop of PPO in the dream and the dream fixed
where the policy found it wrong.

A policy trained only in a dream learns the dream's holes: in the shipped voxel dream, standing still pressing
*break* grows a trunk out of tree-crown leaves and is paid again and again (README, "What was tried"). DIAMOND
closes such holes by collecting the agent's real play and training the world model on it between rounds of
imagination. One round here, each stage an ordinary worldsim stage run in this process:

1. **play**: the policy plays the real world (``play_episodes`` of ``horizon`` steps: 3/8 the policy as it acts,
   3/8 with a share ``epsilon`` of random actions, 1/4 the scripted explorer, or random play where the world is not
   the voxel one), recorded as a Minari dataset;
2. **encode** it with the model's VAE;
3. **train** the whole world model from the current one with its own recipe (window, head, sampler, diffusion
   settings, read from its checkpoint) on an anchor of general play (``anchor``: a latent cache made with the same
   VAE; null records ``anchor_episodes`` of the recorder's default mix once and keeps it for every round) plus the
   policy's play ``play_repeat`` times over, the earlier rounds' play (``keep_play``, as DIAMOND's world model
   trains on everything collected) and any ``extra`` caches (the play that taught the model before, so that a round
   does not forget it), for ``train_minutes`` (or ``train_steps``);
4. **export** the new model (fp16, the previous model's start clips, so that dreams start where they did).

Every stage keeps what it made under ``out/loop/``; run the same command again and each finished stage is kept
(the recording resumes, the training resumes from its last checkpoint), so a cut-off loop goes on where it was.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass
class LoopConfig:
    play_episodes: int = 96  # real episodes of the policy's play recorded each round
    epsilon: float = 0.25  # share of random actions in the second 3/8 of that play
    anchor: str | None = None  # latent cache of general play (same VAE); null: record anchor_episodes once
    anchor_episodes: int = 192  # the anchor's episodes (of `horizon` steps) when it is recorded
    play_repeat: int = 1  # the play's episodes count this many times in the training data
    keep_play: bool = True  # the earlier rounds' play trains too (once each), not the latest round's alone
    extra: tuple[str, ...] = ()  # more latent caches (same VAE) trained beside the anchor every round
    train_minutes: float = 15.0  # training time per round (the learning rate's cosine runs over it)
    train_steps: int | None = None  # at most this many optimizer steps per round (null: the time decides)
    batch_size: int = 8  # windows per training step (of the model's window, 48 frames for the shipped one)
    lr: float = 1.0e-4
    warmup: int = 50
    processes: int = 2  # recording processes


def _is_latent_cache(path: str | Path) -> bool:
    """Whether ``path`` is a finished latent cache (``worldsim encode`` writes its meta.json last)."""
    return (Path(path) / "meta.json").is_file()


def loop_config(values: dict | LoopConfig | None) -> LoopConfig:
    """A ``LoopConfig`` from the ``loop`` section of `worldsim ppo`, naming any unknown key."""
    if isinstance(values, LoopConfig):
        return values
    values = dict(values or {})
    known = {f.name for f in fields(LoopConfig)}
    if set(values) - known:
        raise ValueError(f"loop: unknown settings {sorted(set(values) - known)}; the settings are {sorted(known)}")
    if isinstance(values.get("extra"), str):
        values["extra"] = [values["extra"]]
    cfg = LoopConfig(**values)
    if not isinstance(cfg.keep_play, bool):
        raise TypeError(f"loop.keep_play must be true or false, got {cfg.keep_play!r}")
    cfg.extra = tuple(str(e) for e in (cfg.extra or ()))
    for e in cfg.extra:
        if not _is_latent_cache(e):
            raise FileNotFoundError(f"loop.extra names {e!r}, which is not a latent cache (worldsim encode makes one)")
    if cfg.play_episodes < 1 or cfg.play_repeat < 1 or cfg.batch_size < 1:
        raise ValueError(f"loop: play_episodes, play_repeat and batch_size must be at least 1, got {asdict(cfg)}")
    if not 0.0 <= cfg.epsilon <= 1.0:
        raise ValueError(f"loop.epsilon must be a share in [0, 1], got {cfg.epsilon}")
    if cfg.train_minutes is None or not cfg.train_minutes > 0:  # (the learning rate's cosine runs over this time)
        raise ValueError(f"loop.train_minutes must be a time in minutes > 0, got {cfg.train_minutes}")
    if cfg.train_steps is not None and cfg.train_steps < 1:
        raise ValueError(f"loop.train_steps must be at least 1 or null (no cap), got {cfg.train_steps}")
    if cfg.anchor and not _is_latent_cache(cfg.anchor):
        raise FileNotFoundError(f"loop.anchor={cfg.anchor!r} is not a latent cache (worldsim encode makes one)")
    return cfg


def say(msg: str) -> None:
    print(f"ppo loop: {msg}", file=sys.stderr, flush=True)


def recipe_of(wm) -> dict:
    """``TrainDiTConfig`` settings that continue the world model ``wm`` as it was trained: its sizes, window, head,
    sampler and diffusion settings, and its recipe's own-rollout and event settings where it saved them."""
    from worldsim.diffusion import DiffusionConfig
    from worldsim.sampler import SamplerConfig

    recipe = dict(wm.info.get("recipe") or {})
    known_diffusion = {f.name for f in fields(DiffusionConfig)}
    diffusion = DiffusionConfig(**{k: v for k, v in (recipe.get("diffusion") or {}).items() if k in known_diffusion})
    c = wm.dit.cfg
    out = {
        "dit": "cpu",
        "arch": {"dim": c.dim, "depth": c.depth, "heads": c.heads, "mlp_ratio": c.mlp_ratio, "patch": c.patch},
        "window": int(wm.window),
        "output": c.output,
        "diffusion": diffusion,
        "sampler": SamplerConfig(**asdict(wm.sampler_cfg)),
    }
    for key in ("rollout_prob", "rollout_frames", "rollout_window", "rollout_targets", "rollout_heads_on_dreams",
                "event_windows", "event_balance"):  # fmt: skip
        if key in recipe:
            out[key] = recipe[key]
    return out


def _fallback_policy(space) -> str:
    """The scripted explorer where it can play this action space, else random play."""
    from worldsim.policies import ExplorerPolicy

    try:
        ExplorerPolicy(space)
    except ValueError:
        return "random"
    return "explorer"


def _resize(env_id: str, frame_shape) -> list | None:
    """``[H, W]`` to record at where the env's own frames are not the model's size."""
    from worldsim.envs import make_env

    env = make_env(env_id)  # (as the recorder makes it)
    shape = getattr(env.observation_space, "shape", None) or ()
    env.close()
    return None if tuple(shape[:2]) == tuple(frame_shape[:2]) else [int(frame_shape[0]), int(frame_shape[1])]


def training_play(work: Path, round_index: int, play: Path, cfg: LoopConfig) -> list[str]:
    """The latent caches a round trains on beside the anchor: this round's play ``play_repeat`` times, the earlier
    rounds' play under ``work/latents`` once each (``keep_play``), then ``cfg.extra``."""
    caches = [str(play)] * cfg.play_repeat
    if cfg.keep_play:
        for r in range(round_index):
            earlier = work / "latents" / f"round{r}"
            if _is_latent_cache(earlier):
                caches.append(str(earlier))
    return caches + list(cfg.extra)


def record_and_encode(name: str, policies: dict, episodes: int, steps: int, seed: int, env_id: str, wm,
                      vae_file: Path, work: Path, processes: int) -> Path:  # fmt: skip
    """Record ``episodes`` of ``policies`` in the real env (resuming a cut-off recording) and encode them into the
    latent cache ``work/latents/<name>`` (kept when it is there); returns the cache."""
    from worldsim.data.latents import build_latent_cache
    from worldsim.data.record import RecordConfig, record

    cache = work / "latents" / name
    if _is_latent_cache(cache):
        return cache
    t = time.perf_counter()
    root = work / "minari"
    dataset_id = f"worldsim/ppo-loop-{name}-v0"
    rec = record(RecordConfig(env_id=env_id, dataset_id=dataset_id, root=str(root), episodes=episodes,
                              max_episode_steps=steps, policies=policies, processes=processes, seed=seed,
                              resize=_resize(env_id, wm.frame_shape), progress=False))  # fmt: skip
    if rec.get("interrupted"):  # (what was recorded stays: the same command resumes the recording)
        raise KeyboardInterrupt(f"the recording of {dataset_id} under {root} was stopped; run the same command "
                                "again to go on")  # fmt: skip
    build_latent_cache(dataset_id, str(vae_file), str(cache), root=str(root), progress=False,
                       eval_fraction=0.05 if name == "anchor" else 0.0)  # fmt: skip
    say(f"{name}: {episodes} real episodes recorded and encoded in {time.perf_counter() - t:.0f}s")
    return cache


def update_world_model(model: str, agent_zip: Path, round_index: int, cfg: LoopConfig, env_id: str, horizon: int,
                       seed: int, work: Path) -> tuple[str, dict]:  # fmt: skip
    """One round's world-model update: the policy ``agent_zip`` plays the real world, and the world model
    ``model`` trains on that play (beside the anchor) into ``work/round<r>/model``. Returns the new model's folder
    and what the round did."""
    import torch

    from worldsim.models.vae import vae_file as find_vae_file
    from worldsim.train.train_dit import TrainDiTConfig, train_dit
    from worldsim.world_model import load_world_model

    folder = work / f"round{round_index}" / "model"
    wm = load_world_model(model)
    vae_file = find_vae_file(model)
    space = wm.action_space
    fallback = _fallback_policy(space)
    summary = {"round": round_index, "from_model": model}
    if cfg.anchor:
        anchor = Path(cfg.anchor)
    else:
        anchor = record_and_encode("anchor", {fallback: 0.8, "random": 0.2} if fallback != "random" else
                                   {"random": 1.0}, cfg.anchor_episodes, horizon, seed + 500_000, env_id, wm,
                                   vae_file, work, cfg.processes)  # fmt: skip
    if (folder / "dit.safetensors").is_file():
        say(f"round {round_index}: the world model is already trained ({folder})")
        return str(folder), summary | {"kept": True}
    zip_name = str(agent_zip.resolve())
    play = record_and_encode(
        f"round{round_index}", {zip_name: 0.375, f"eps:{cfg.epsilon}:{zip_name}": 0.375, fallback: 0.25},
        cfg.play_episodes, horizon, seed + 1_000_000 + 100_000 * round_index, env_id, wm, vae_file, work, cfg.processes,
    )  # fmt: skip
    run_dir = work / f"round{round_index}" / "dit"
    data = training_play(work, round_index, play, cfg)
    say(f"round {round_index}: training the world model from {model} for {cfg.train_minutes} min"
        + (f" (at most {cfg.train_steps} steps)" if cfg.train_steps else ""))  # fmt: skip
    # init_from carries the model's step count on: a cap of train_steps counts from there
    steps = int(wm.info.get("step", 0)) + cfg.train_steps if cfg.train_steps else 10**9
    t = time.perf_counter()
    train = train_dit(TrainDiTConfig(
        latents=str(anchor), extra_latents=data, vae=str(vae_file), run_dir=str(run_dir),
        init_from=model, batch_size=cfg.batch_size, lr=cfg.lr, warmup=cfg.warmup, steps=steps,
        max_minutes=cfg.train_minutes, seed=seed + round_index, progress=False, log_every=10, sample_every=10**9,
        ckpt_every=200, **recipe_of(wm),
    ))  # fmt: skip
    if train.get("interrupted"):
        raise KeyboardInterrupt(f"the world model's training was stopped at step {train['step']} (checkpointed in "
                                f"{run_dir}); run the same command again to go on")  # fmt: skip
    new = load_world_model(str(run_dir), reward=False)
    new.clips = wm.clips  # dreams start where they did: the previous model's start clips
    new.reward_model, new.reward_info = wm.reward_model, wm.reward_info  # and a reward model beside the DiT pays on
    partial = folder.with_name(folder.name + ".partial")  # whole or not at all: a kept model is a finished one
    shutil.rmtree(partial, ignore_errors=True)
    new.save(partial, dtype=torch.float16)
    os.replace(partial, folder)
    say(f"round {round_index}: world model trained to step {train['step']} in "
        f"{time.perf_counter() - t:.0f}s, saved as {folder}")  # fmt: skip
    train_summary = {k: train.get(k) for k in ("step", "train_minutes", "steps_per_s")}
    return str(folder), summary | {"train": train_summary | {"latents": [str(anchor), *data]}}


__all__ = ["LoopConfig", "loop_config", "recipe_of", "training_play", "update_world_model"]
