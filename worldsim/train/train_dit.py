"""`worldsim train`: train the action-conditioned DiT on the latent cache; the loop is all here, top to bottom.

    worldsim train                                        # the voxel defaults (configs/train.yaml)
    worldsim train steps=300 run_dir=runs/dit-test dit=tiny
    torchrun --nproc_per_node=2 -m worldsim.cli train     # data-parallel (gloo on CPU, nccl on GPUs)
    worldsim train device=cuda batch_size=512 compile=true max_minutes=5   # a GPU run with a wall-clock budget

``device``/``dtype``/``compile`` (``worldsim.runtime``): on a GPU the weights stay float32 and the forward pass runs
under bfloat16 autocast, the latent cache is copied into GPU memory once and windows are gathered there, and under
torchrun each rank trains on its own GPU (``LOCAL_RANK``). ``max_minutes`` stops the run after that much training
time (checkpointing on the way out); the cosine then runs over that time instead of over ``steps``.

Writes ``run_dir/model.safetensors`` (EMA weights: what sampling uses; its metadata names the VAE, the window and
the sampler defaults), ``run_dir/train_state.safetensors`` (raw weights, optimizer, step, RNGs: exact resume),
and TensorBoard logs (losses, and dream rollouts against the real frames as image strips) in ``run_dir/tb``; with
``snapshot_every`` the EMA model (fp16) every that many steps in ``run_dir/snapshots/step-NNNNNNN.safetensors``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from worldsim import runtime
from worldsim.checkpoint import (
    CheckpointError,
    load_model,
    load_state_into,
    load_train_state,
    save_model,
    save_train_state,
)
from worldsim.data.latents import file_sha256, open_training_caches, to_device, window_batch
from worldsim.diffusion import DiffusionConfig, diffusion_loss
from worldsim.models.dit import PRESETS, DiT, DiTConfig
from worldsim.sampler import SamplerConfig, latent_std_floor
from worldsim.train import dit_batches
from worldsim.train.adversarial import AdversarialConfig, Adversary
from worldsim.train.interrupt import catch_stop_signals
from worldsim.train.schedule import ema_decay_at, short_run_warmup, warmup_cosine
from worldsim.world_model import load_world_model


@dataclass
class TrainDiTConfig:
    latents: str = "data/latents/voxel-mix-v1"  # latent cache folder (worldsim encode)
    vae: str = "runs/vae-voxel"  # the VAE the cache was made with (checked by hash)
    run_dir: str = "runs/dit-voxel"
    dit: str = "cpu"  # size preset: tiny, cpu, medium, base, large (models/dit.py PRESETS)
    arch: dict = field(default_factory=dict)  # the preset's sizes overridden: dim, depth, heads, mlp_ratio, patch
    window: int = 8  # frames per training window
    steps: int = 60000  # optimizer steps in total (a resumed run continues up to this)
    batch_size: int = 32  # windows per step (per process under torchrun)
    lr: float = 3e-4
    min_lr_ratio: float = 0.05
    warmup: int = 1000
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # EMA of the weights, used for sampling and saved as the model; warmed up over the
    # run's own steps (schedule.ema_decay_at)
    log_every: int = 50
    sample_every: int = 2000  # log a dream rollout strip to TensorBoard
    ckpt_every: int = 500
    snapshot_every: int = 0  # > 0: also keep the EMA model every this many steps in run_dir/snapshots (as the run
    # saves it; ``worldsim select`` scores them; a run's quality moves between checkpoints)
    seed: int = 0
    threads: int = 2  # torch CPU threads per process
    resume: bool = True
    output: str = "residual"  # DiT head: "residual", "velocity" or "gated" (velocity + copy gate; models/heads.py)
    reward: str = "auto"  # "classes": the reward head predicts the recording's distinct reward values as classes;
    # "regression": one number; "auto": classes when the recording has at most MAX_REWARD_CLASSES distinct rewards
    event_balance: float = 0.5  # a reward class weighs frequency ** -event_balance in the cross-entropy, and a
    # termination (frequency p) (1 - p) / p to that power in its BCE (0: plain losses, which never predict a rare
    # event; 1: an event and its absence weigh alike in total)
    event_windows: float = 0.0  # share of each batch drawn from the windows whose transitions hold a nonzero
    # reward (breaking or placing a log in the voxel world: rare, 1.8% of its steps, and what a policy exploits
    # when the dream gets it wrong)
    rollout_prob: float = 0.0  # share of batches whose windows continue as the model's own rollout (a real start,
    # then dreamed frames driven by the recorded actions) with the real rewards and terminations as labels: the
    # heads learn to read dreams as well as real frames (with trainable=heads: a dream's drift is not a reward);
    # with trainable=all the window's last frame stays real and is the only frame target: the body learns to
    # steer its own drifted rollout back to the world (scheduled sampling, as Self-Forcing and DIAMOND train)
    rollout_frames: int = 6  # at most this many dreamed frames per rollout window (each costs a sampler step;
    # a 48-frame window keeps its first frames real)
    rollout_window: int | None = None  # frames per rollout window (null: ``window``); shorter is cheaper: a 48-frame
    # model learns to steer its drift back from 16-frame windows at a third of the cost of a step
    rollout_heads_on_dreams: bool = False  # with trainable=all: the reward and termination heads learn on the
    # dreamed frames too, with the real labels (off: only on the real frames; a drifted dream need not show what
    # the world paid for, and heads that learnt on them lost the policy ranking in session 13)
    rollout_targets: int = 1  # with trainable=all: real frames after the dreamed stretch, the window's only targets
    # (the first reads the last dreamed frame as its previous frame; the later ones hold the dream in context)
    trainable: str = "all"  # "all", or "heads": only the reward and termination heads learn, on frames at the
    # context noise level where a dream step reads them; the dreams stay as they are (init_from=voxel
    # trainable=heads gives a model reward classes)
    init_from: str | None = None  # with no checkpoint to resume: start from this world model's DiT (and its step)
    pitch: bool | None = None  # each frame reads the camera's pitch, integrated from the actions (models/pitch.py;
    # the world's view_pose); null: as the model it resumes or warm-starts from (off for a new one)
    pitch_drop: float = 0.1  # share of windows whose pitch is unknown (a dream may start from frames alone)
    pitch_lr_scale: float = 10.0  # the pitch table learns at this multiple of lr (a new input of a warm start)
    progress: bool = True  # a progress bar (false: a plain log line every log_every steps)
    extra_latents: list[str] = field(default_factory=list)  # more caches (same VAE) whose every episode trains
    device: str = "auto"  # cpu, cuda (this rank's GPU under torchrun) or auto
    dtype: str = "auto"  # float32 or bfloat16 (autocast); auto: bfloat16 on CUDA, float32 on a CPU
    compile: bool = False  # torch.compile the DiT's training forward pass
    max_minutes: float | None = None  # stop after this much training time; the cosine runs over this time
    std_floor_quantile: float = 0.0  # > 0: the saved sampler's contrast floor (``sampler.std_floor``) is this
    # quantile of the training frames' per-channel latent std (0: the sampler's own setting, none by default)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)  # defaults saved with the model
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)  # a critic on predicted frames (off)


ARCH_KEYS = ("dim", "depth", "heads", "mlp_ratio", "patch")


def model_sizes(cfg: TrainDiTConfig) -> dict:
    """The DiT's sizes: the preset ``cfg.dit`` with every non-null entry of ``cfg.arch`` in its place."""
    if cfg.dit not in PRESETS:
        raise ValueError(f"unknown DiT preset {cfg.dit!r}; choose from {sorted(PRESETS)}")
    arch = {k: v for k, v in (cfg.arch or {}).items() if v is not None}
    if set(arch) - set(ARCH_KEYS):
        raise ValueError(f"arch: unknown sizes {sorted(set(arch) - set(ARCH_KEYS))}; the sizes are {list(ARCH_KEYS)}")
    return {**PRESETS[cfg.dit], **arch}


def lr_at(step: int, cfg: TrainDiTConfig, clock: dict | None = None) -> float:
    """The learning rate at ``step``. With ``max_minutes`` (and the run's ``clock``: its first step and its
    training seconds so far) the warm-up counts from the run's first step and the cosine runs over the time. A run
    shorter than ten warm-ups warms up over a tenth of its steps (at least 100)."""
    warmup = short_run_warmup(cfg.warmup, cfg.steps)
    if cfg.max_minutes is None or clock is None:
        return warmup_cosine(step, cfg.lr, warmup, cfg.steps, cfg.min_lr_ratio)
    done = step - clock["start_step"]
    if done < warmup:
        return cfg.lr * (done + 1) / warmup
    t = min(1.0, clock["seconds"] / (60.0 * cfg.max_minutes))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def train_dit(cfg: TrainDiTConfig) -> dict:
    rank, world, device = runtime.init_distributed(cfg.device)
    dtype = runtime.resolve_dtype(cfg.dtype, device, training=True)
    if dtype == torch.float16:
        raise ValueError("dtype=float16 needs loss scaling, which worldsim train does not do: use bfloat16")
    if cfg.sampler.context > cfg.window - 1:
        raise ValueError(f"sampler.context={cfg.sampler.context} needs a training window of at least "
                         f"{cfg.sampler.context + 1} frames, but window={cfg.window}: lower sampler.context or "
                         "raise window")  # fmt: skip
    if cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise ValueError(f"max_minutes must be positive (or null), got {cfg.max_minutes}")
    if not 0.0 <= cfg.rollout_prob <= 1.0:
        raise ValueError(f"rollout_prob must be in [0, 1], got {cfg.rollout_prob}")
    if cfg.rollout_frames < 1:
        raise ValueError(f"rollout_frames must be at least 1, got {cfg.rollout_frames}")
    if not 0.0 <= cfg.std_floor_quantile < 1.0:
        raise ValueError(f"std_floor_quantile must be in [0, 1) (0: no contrast floor), got {cfg.std_floor_quantile}")
    if cfg.rollout_prob > 0 and cfg.window < 3:
        raise ValueError(f"rollout_prob needs windows of at least 3 frames (a real start, a dreamed frame, a real "
                         f"target), but window={cfg.window}")  # fmt: skip
    if cfg.rollout_window is not None and not 3 <= cfg.rollout_window <= cfg.window:
        raise ValueError(f"rollout_window must be in [3, window={cfg.window}] or null, got {cfg.rollout_window}")
    rollout_len = cfg.rollout_window or cfg.window  # a start valid for the window is valid for a shorter one
    if cfg.rollout_prob > 0 and not 1 <= cfg.rollout_targets <= rollout_len - 2:
        raise ValueError(f"rollout_targets must be in [1, {rollout_len - 2}] (a real start and a dreamed frame "
                         f"come first), got {cfg.rollout_targets}")  # fmt: skip
    rollout_tail = cfg.rollout_targets if cfg.trainable == "all" else 0  # the body learns from the real frames after
    runtime.setup_cuda()
    torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    model_path, state_path = run / "model.safetensors", run / "train_state.safetensors"

    # ---- data: the latent cache, training episodes only
    from worldsim.models.vae import load_vae
    from worldsim.models.vae import vae_file as find_vae_file

    vae_file = find_vae_file(cfg.vae)  # absolute: the run loads from any folder
    vae_sha = file_sha256(vae_file)
    store, meta, train_eps = open_training_caches(cfg.latents, cfg.extra_latents, vae_sha)
    starts = store.window_starts(cfg.window)
    episode_of = np.searchsorted(store.ep_start, starts, side="right") - 1
    train_starts = starts[np.isin(episode_of, train_eps)]
    eval_starts = starts[~np.isin(episode_of, train_eps)]
    steps_of = [np.arange(store.ep_start[e], store.ep_start[e + 1] - 1) for e in train_eps]  # their transitions
    transitions = np.concatenate(steps_of) if steps_of else np.zeros(0, np.int64)
    train_rewards, train_terms = np.asarray(store.rewards)[transitions], np.asarray(store.terminations)[transitions]
    events = np.concatenate([[0], np.cumsum(np.asarray(store.rewards) != 0)])  # nonzero rewards before each index
    event_starts = train_starts[events[train_starts + cfg.window - 1] > events[train_starts]]  # windows with one
    if cfg.std_floor_quantile > 0:  # from up to 4,096 training frames, spread over the cache
        frames = np.concatenate([np.arange(store.ep_start[e], store.ep_start[e + 1]) for e in train_eps])
        pick = np.sort(np.random.default_rng(cfg.seed).choice(frames, min(4096, len(frames)), replace=False))
        floor = latent_std_floor(torch.as_tensor(np.asarray(store.frames[pick], np.float32)), cfg.std_floor_quantile)
        cfg = replace(cfg, sampler=replace(cfg.sampler, std_floor=floor))
    if device.type == "cuda":  # the whole cache into GPU memory once: windows are gathered there
        store = to_device(store, device)
    if len(train_starts) == 0:
        raise ValueError(f"the latent cache {cfg.latents} has no training window of {cfg.window} frames")

    # ---- model, EMA, optimizer, resume
    if cfg.trainable not in ("all", "heads"):
        raise ValueError(f"trainable must be all or heads, got {cfg.trainable!r}")
    resuming = cfg.resume and state_path.exists()
    source = None  # the world model a fresh run warm-starts from (its DiT, window, sampler and step), read once
    if cfg.init_from and not resuming:
        source = load_world_model(cfg.init_from, dtype="float32")
    reward_values = dit_batches.reward_values_of(
        train_rewards, cfg.reward, keep=source and source.dit.cfg.reward_values
    )
    saved_dit = load_model(model_path, "dit")[0] if resuming else asdict(source.dit.cfg) if source else {}
    if resuming and cfg.reward == "auto":  # a resumed run keeps its own reward head
        reward_values = saved_dit.get("reward_values")
    want_pitch = bool(saved_dit.get("pitch")) if cfg.pitch is None else cfg.pitch
    pitches = dit_batches.PitchWindows.of(want_pitch, meta.get("env_id"), store, cfg.pitch_drop)
    dcfg = DiTConfig(latent_shape=tuple(meta["latent_shape"]), action_space=meta["action_space"], output=cfg.output,
                     reward_values=reward_values, pitch=pitches and pitches.rule.to_config(),
                     **model_sizes(cfg))  # fmt: skip
    torch.manual_seed(cfg.seed)
    data_rng = np.random.default_rng([cfg.seed, rank])
    model = DiT(dcfg).to(device)
    ema = DiT(dcfg).to(device).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    class_weights = dit_batches.reward_class_weights(model, train_rewards, cfg.event_balance)
    term_weight = dit_batches.termination_pos_weight(train_terms, cfg.event_balance, device)
    if class_weights is not None:
        class_weights = class_weights.to(device)
    diffusion = cfg.diffusion
    if cfg.trainable == "heads":  # the body stays as it is: only the reward and termination heads learn
        diffusion = replace(diffusion, context_prob=1.0, prefix_prob=0.0)  # every frame at the context level
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(("reward_head.", "term_head.")))
    decay, no_decay = [], []
    fresh = [p for name, p in model.named_parameters() if name.startswith("pitch_embed.") and p.requires_grad]
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith("pitch_embed."):
            (no_decay if p.ndim < 2 or "embed" in name or name.endswith(".none") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if fresh:  # (only then: a run from before resumes with its two groups)
        groups.append({"params": fresh, "weight_decay": 0.0, "lr_scale": cfg.pitch_lr_scale})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=device.type == "cuda" or None)
    gen = torch.Generator(device).manual_seed(cfg.seed * 1000 + rank)  # noise levels and noise of the objective
    adv = Adversary(dcfg.latent_shape[0], cfg.adversarial, device) if cfg.adversarial.weight > 0 else None
    step = 0
    clock = {"start_step": 0, "seconds": 0.0}  # the run's first step and its training time (for max_minutes)
    if resuming:
        saved_cfg, ema_state, saved_extra = load_model(model_path, "dit")
        if DiTConfig(**saved_cfg) != dcfg:
            raise CheckpointError(f"{run} holds a DiT with config {saved_cfg}, not {asdict(dcfg)}; use another run_dir")
        saved_window = saved_extra.get("window", cfg.window)
        if saved_window != cfg.window:
            raise CheckpointError(f"{run} trains on {saved_window}-frame windows, not window={cfg.window}: "
                                  f"pass window={saved_window} to resume it, or use another run_dir")  # fmt: skip
        step, raw, saved = load_train_state(state_path, opt, data_rng)
        if adv is not None and not adv.load(raw) and rank == 0:
            print(f"{state_path} holds no critic: adversarial.weight starts a fresh one", flush=True)
        load_state_into(model, {k[len("model.") :]: v for k, v in raw.items() if k.startswith("model.")}, state_path)
        if any(k.startswith("ema.") for k in raw):  # the train state holds everything a resume needs, consistently
            load_state_into(ema, {k[len("ema.") :]: v for k, v in raw.items() if k.startswith("ema.")}, state_path)
        else:  # a run from before: its model file must be of the same step
            model_step = saved_extra.get("info", {}).get("step")
            if model_step is not None and int(model_step) != step:
                raise CheckpointError(f"{model_path} is at step {model_step} but {state_path} at step {step} "
                                      "(a save was cut off): resume=false starts afresh")  # fmt: skip
            load_state_into(ema, ema_state, model_path)
        clock.update(saved.get("clock", {"start_step": 0, "seconds": 0.0}))
        if world > 1:  # the saved streams are rank 0's: every other rank continues on its own
            data_rng = np.random.default_rng([cfg.seed, rank, step])
        try:
            gen.set_state(raw["generator"])
            if rank > 0:
                gen.manual_seed(cfg.seed * 1000 + rank + 7919 * step)
        except RuntimeError:  # saved by a run on another kind of device: its noise stream cannot carry over
            gen.manual_seed(cfg.seed * 1000 + rank + step)
            if rank == 0:
                print(f"{state_path}: the noise generator was saved on another device; reseeded", flush=True)
        if rank == 0:
            print(f"resumed {run} at step {step}", flush=True)
    elif cfg.init_from:
        try:
            model.adapt_from(source.dit, f"init_from={cfg.init_from}")
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
        ema.load_state_dict(model.state_dict())
        step = int(source.info.get("step", 0))
        clock["start_step"] = step
        if rank == 0:
            print(f"warm start from {cfg.init_from} at step {step} (fresh optimizer)", flush=True)
            if source.window != cfg.window:  # allowed (a longer context is how memory grows)
                print(f"note: init_from={cfg.init_from} was trained on {source.window}-frame windows (sampler "
                      f"context {source.sampler_cfg.context}); this run trains window={cfg.window}, "
                      f"sampler.context={cfg.sampler.context}", flush=True)  # fmt: skip
        del source
    if cfg.compile:
        # compiles forward in place (the state dict keeps its names), one static graph per window length: own-rollout
        # batches (rollout_window) are shorter than the real ones, and a dynamic-shape graph over both failed an
        # inductor stride assertion on CUDA (torch 2.11, GPU run of 2026-11-27)
        model.compile(dynamic=False)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                        else None)  # fmt: skip
    amp = runtime.autocast(device, dtype)

    def checkpoint(snapshot: Path | None = None) -> None:
        info = {"vae_file": str(vae_file), "vae_sha256": meta["vae_sha256"], "dataset_id": meta["dataset_id"],
                "latents": str(cfg.latents), "step": step, "preset": cfg.dit, "device": device.type,
                "dtype": runtime.dtype_name(dtype), "train_minutes": round(clock["seconds"] / 60, 2),
                "env_id": meta.get("env_id"),
                "recipe": {"output": cfg.output, "batch_size": cfg.batch_size, "lr": cfg.lr,
                           "warmup": cfg.warmup, "init_from": cfg.init_from, "window": cfg.window,
                           "rollout_prob": cfg.rollout_prob, "rollout_frames": cfg.rollout_frames,
                           "rollout_window": cfg.rollout_window, "rollout_targets": cfg.rollout_targets,
                           "rollout_heads_on_dreams": cfg.rollout_heads_on_dreams,
                           "event_windows": cfg.event_windows, "event_balance": cfg.event_balance,
                           "trainable": cfg.trainable, "std_floor_quantile": cfg.std_floor_quantile,
                           "diffusion": asdict(cfg.diffusion), "adversarial": asdict(cfg.adversarial)}}  # fmt: skip
        if cfg.extra_latents:
            info["extra_latents"] = [str(p) for p in cfg.extra_latents]
        if device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(device)
        extra = {"window": cfg.window, "sampler": asdict(cfg.sampler), "info": info}
        if snapshot is not None:  # the EMA model alone, in fp16 as a model ships (half the disk)
            snapshot.parent.mkdir(exist_ok=True)
            save_model(snapshot, "dit", dcfg, ema.state_dict(), extra=extra, dtype=torch.float16)
            return
        save_model(model_path, "dit", dcfg, ema.state_dict(), extra=extra)
        raw = {f"model.{k}": v for k, v in model.state_dict().items()} | {"generator": gen.get_state()}
        raw |= {f"ema.{k}": v for k, v in ema.state_dict().items()}  # a resume reads model, EMA and optimizer here
        raw |= adv.tensors() if adv is not None else {}
        save_train_state(state_path, step, opt, data_rng, extra_tensors=raw, extra={"clock": clock})

    tb = bar = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        run.mkdir(parents=True, exist_ok=True)
        tb = SummaryWriter(str(run / "tb"), purge_step=step or None)  # a resumed run overwrites later events
        bar = tqdm(total=cfg.steps, initial=step, desc="train-dit", disable=not cfg.progress, smoothing=0.05)
    t_last, step_last, logs = time.perf_counter(), step, {}
    ema_params, model_params = list(ema.parameters()), list(model.parameters())
    model.train()
    t_clock = time.perf_counter()
    first_step, first_seconds = step, clock["seconds"]
    out_of_time = False
    stop, restore_signals = catch_stop_signals()  # Ctrl-C, SIGTERM: finish the step, checkpoint, return
    halted = False  # a stop request, agreed by every rank after a whole step
    while step < cfg.steps and not out_of_time and not halted:
        # ---- one optimizer step on a batch of windows
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, clock) * group.get("lr_scale", 1.0)
        if cfg.event_windows > 0 and len(event_starts):  # a share of the windows hold a reward (rare events)
            n_event = int(data_rng.binomial(cfg.batch_size, cfg.event_windows))
            picks = np.concatenate(
                [
                    event_starts[data_rng.integers(0, len(event_starts), n_event)],
                    train_starts[data_rng.integers(0, len(train_starts), cfg.batch_size - n_event)],
                ]
            )
        else:
            picks = train_starts[data_rng.integers(0, len(train_starts), cfg.batch_size)]
        if cfg.rollout_prob > 0 and data_rng.random() < cfg.rollout_prob:  # the model's own rollout, real labels
            end = rollout_len - rollout_tail  # dreamed frames: keep .. end - 1 (1 to rollout_frames)
            keep = int(data_rng.integers(max(1, end - cfg.rollout_frames), end))
            batch = dit_batches.with_pitch(window_batch(store, picks, rollout_len), pitches, picks, data_rng)
            batch = dit_batches.dreamed_batch(model, batch, keep, cfg.sampler,
                                  int(data_rng.integers(2**31)), real_tail=rollout_tail, dtype=dtype)  # fmt: skip
            if cfg.trainable == "all" and not cfg.rollout_heads_on_dreams:
                batch["labelled"] = ~batch["dreamed"]
        else:
            batch = dit_batches.with_pitch(window_batch(store, picks, cfg.window), pitches, picks, data_rng)
        outputs = {} if adv is not None else None
        with amp:
            loss, logs = diffusion_loss(net, batch, diffusion, generator=gen, reward_class_weights=class_weights,
                                        termination_pos_weight=term_weight, outputs=outputs)  # fmt: skip
            if adv is not None:
                g_loss, logs["adversarial"] = adv.generator_loss(outputs, step - clock["start_step"])
                loss = loss + g_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if adv is not None:
            logs |= adv.critic_step(outputs)
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, model_params, 1 - ema_decay_at(cfg.ema_decay, step - clock["start_step"]))
        step += 1
        now = time.perf_counter()
        clock["seconds"] += now - t_clock
        t_clock = now
        halted = bool(stop)
        if world > 1:  # every rank keeps rank 0's clock and stops when it does (same learning rate, same step)
            agreed = torch.tensor([clock["seconds"], float(halted)], device=device, dtype=torch.float64)
            torch.distributed.broadcast(agreed, 0)
            clock["seconds"], halted = float(agreed[0]), bool(agreed[1] > 0)
        if cfg.max_minutes is not None:
            out_of_time = clock["seconds"] >= 60.0 * cfg.max_minutes
        if rank != 0:
            continue

        # ---- logging, checkpoints, sample rollouts (rank 0 only)
        bar.update(1)
        if step % cfg.log_every == 0:
            now = time.perf_counter()
            scalars = {k: float(v) for k, v in logs.items()}
            for k, v in scalars.items():
                tb.add_scalar(f"train/{k}", v, step)
            tb.add_scalar("train/grad_norm", float(gnorm), step)
            tb.add_scalar("train/lr", lr_at(step, cfg, clock), step)
            rate = (step - step_last) / (now - t_last)  # (the first interval after a warm start is shorter)
            tb.add_scalar("train/steps_per_s", rate, step)
            if not cfg.progress:
                print(json.dumps({"step": step, "steps_per_s": round(rate, 2),
                                  "lr": lr_at(step, cfg, clock), "minutes": round(clock["seconds"] / 60, 2),
                                  **{k: round(v, 5) for k, v in scalars.items()}}), flush=True)  # fmt: skip
            t_last, step_last = now, step
            bar.set_postfix(loss=f"{scalars['loss']:.4f}", flow=f"{scalars['flow']:.4f}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time:
            checkpoint()
        if cfg.snapshot_every > 0 and step % cfg.snapshot_every == 0:
            checkpoint(run / "snapshots" / f"step-{step:07d}.safetensors")
        if (step % cfg.sample_every == 0 or step == cfg.steps) and len(eval_starts):
            vae = load_vae(str(vae_file), device)
            strip = dit_batches.dream_strip(ema, vae, store, int(eval_starts[len(eval_starts) // 2]), cfg)
            tb.add_image("dream/real_over_dream", strip, step, dataformats="HWC")
        t_clock = time.perf_counter()  # checkpoints and strips are not training time
    restore_signals()
    if halted and rank == 0:
        checkpoint()
        print(f"interrupted: {run} saved at step {step}; run the same command to resume", flush=True)
    if rank == 0:
        bar.close()
        tb.close()
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return {"run_dir": str(run), "step": step, "world_size": world, "device": str(device), "interrupted": halted,
            "dtype": runtime.dtype_name(dtype), "train_minutes": round(clock["seconds"] / 60, 3),
            "steps_per_s": round((step - first_step) / max(clock["seconds"] - first_seconds, 1e-9), 2),
            **{k: round(float(v), 5) for k, v in logs.items()}}  # fmt: skip
