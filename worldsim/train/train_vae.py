"""`worldsim train-vae`: train the per-frame VAE on a recorded dataset; the loop is all here, top to bottom.

    worldsim train-vae                                   # the voxel defaults (configs/train_vae.yaml)
    worldsim train-vae steps=200 run_dir=runs/vae-test   # a short run
    worldsim train-vae run_dir=runs/vae-voxel            # run again: resumes exactly from the last checkpoint
    worldsim train-vae device=cuda batch_size=256 compile=true   # on a GPU (bfloat16 autocast by default there)

Writes ``run_dir/model.safetensors`` (weights + config + latent normalisation), ``run_dir/train_state.safetensors``
(optimizer, step, RNGs), ``run_dir/eval.json`` and TensorBoard logs in ``run_dir/tb``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
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
from worldsim.data import load_frames, open_dataset, split_episodes
from worldsim.eval.metrics import psnr, ssim
from worldsim.models.vae import VAE, VAEConfig
from worldsim.train.interrupt import catch_stop_signals
from worldsim.train.schedule import short_run_warmup, warmup_cosine


@dataclass
class TrainVAEConfig:
    dataset_id: str = "worldsim/voxel-mix-v1"  # Minari dataset id (or a dataset folder)
    root: str = "data/minari"  # where datasets live
    run_dir: str = "runs/vae-voxel"  # checkpoints and logs
    steps: int = 20000  # optimizer steps in total (a resumed run continues up to this)
    batch_size: int = 32  # frames per step
    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.02  # cosine decay ends at lr * this
    warmup: int = 500  # linear warm-up steps (a short run: a tenth of its steps, at least 100)
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max global gradient norm
    eval_fraction: float = 0.05  # share of episodes held out (split by episode, fixed by split_seed)
    split_seed: int = 0
    max_episodes: int | None = None  # use only the first N episodes (None: all)
    eval_frames: int = 512  # held-out frames scored at each evaluation
    log_every: int = 50
    eval_every: int = 1000
    ckpt_every: int = 500
    seed: int = 0
    threads: int = 2  # torch CPU threads
    resume: bool = True  # continue from run_dir's checkpoint if there is one
    progress: bool = True
    device: str = "auto"  # cpu, cuda or auto (cuda when a GPU is visible)
    dtype: str = "auto"  # float32 or bfloat16 (autocast, fp32 weights); auto: bfloat16 on CUDA, float32 on a CPU
    compile: bool = False  # torch.compile the VAE's training forward pass
    arch: VAEConfig = field(default_factory=VAEConfig)  # the network's architecture (models/vae.py)


def lr_at(step: int, cfg: TrainVAEConfig) -> float:
    return warmup_cosine(step, cfg.lr, short_run_warmup(cfg.warmup, cfg.steps), cfg.steps, cfg.min_lr_ratio)


@torch.no_grad()
def evaluate(model: VAE, frames: np.ndarray, batch: int = 128) -> dict:
    """Reconstruction PSNR and SSIM of uint8 frames through encode -> decode, as users get them."""
    model.eval()
    recon = np.concatenate(
        [model.decode(model.encode(frames[i : i + batch])).cpu().numpy() for i in range(0, len(frames), batch)]
    )
    model.train()
    c, h, w = model.cfg.latent_shape
    return {
        "psnr": float(psnr(frames, recon).mean()),
        "ssim": float(ssim(frames, recon).mean()),
        "compression": float(np.prod(frames.shape[1:]) / (c * h * w)),
        "frames": len(frames),
    }, recon


def train_vae(cfg: TrainVAEConfig) -> dict:
    device = runtime.resolve_device(cfg.device)
    dtype = runtime.resolve_dtype(cfg.dtype, device, training=True)
    if dtype == torch.float16:
        raise ValueError("dtype=float16 needs loss scaling, which worldsim train-vae does not do: use bfloat16")
    runtime.setup_cuda()
    torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    model_path, state_path = run / "model.safetensors", run / "train_state.safetensors"

    # ---- data: held-out episodes by a fixed split; training frames in memory
    dataset = open_dataset(cfg.dataset_id, root=cfg.root)
    ids = np.asarray(dataset.episode_indices)[: cfg.max_episodes]
    train_idx, eval_idx = split_episodes(len(ids), cfg.eval_fraction, cfg.split_seed)
    expect = (*cfg.arch.resolution, 3)
    train = load_frames(dataset, ids[train_idx], expect_shape=expect).frames  # (N, H, W, 3) uint8
    held = load_frames(dataset, ids[eval_idx] if len(eval_idx) else ids[:1], expect_shape=expect).frames
    eval_frames = held[np.linspace(0, len(held) - 1, min(cfg.eval_frames, len(held))).astype(int)]

    # ---- model, optimizer, resume
    torch.manual_seed(cfg.seed)
    data_rng = np.random.default_rng(cfg.seed)
    model = VAE(cfg.arch).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99),
                            fused=device.type == "cuda" or None)  # fmt: skip
    step = 0
    if cfg.resume and state_path.exists():
        saved_cfg, state, _ = load_model(model_path, "vae")
        if saved_cfg != asdict(cfg.arch) | {"resolution": list(cfg.arch.resolution)}:
            raise CheckpointError(f"{run} was trained with VAE config {saved_cfg}, not {asdict(cfg.arch)}; "
                                  "use another run_dir or resume=false")  # fmt: skip
        step, raw, _ = load_train_state(state_path, opt, data_rng)
        if any(k.startswith("model.") for k in raw):  # the train state holds the weights of its own step
            state = {k[len("model.") :]: v for k, v in raw.items() if k.startswith("model.")}
        else:  # a run from before: its model file must be of the same step
            model_step = load_model(model_path, "vae")[2].get("step")
            if model_step is not None and int(model_step) != step:
                raise CheckpointError(f"{model_path} is at step {model_step} but {state_path} at step {step} "
                                      "(a save was cut off): resume=false starts afresh")  # fmt: skip
        load_state_into(model, state, model_path)
        print(f"resumed {run} at step {step}", flush=True)

    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    if cfg.compile:
        model.compile()  # compiles forward in place (the training pass); the state dict keeps its names
    amp = runtime.autocast(device, dtype)
    tb = SummaryWriter(str(run / "tb"), purge_step=step or None)  # a resumed run overwrites later events
    bar = tqdm(total=cfg.steps, initial=step, desc="train-vae", disable=not cfg.progress, smoothing=0.05)
    model.train()
    t_last, metrics = time.perf_counter(), {}

    def checkpoint() -> None:
        model.set_latent_stats(train[data_rng.integers(0, len(train), 2048)])
        extra = {"step": step, "dataset": str(cfg.dataset_id)}
        save_model(model_path, "vae", cfg.arch, model.state_dict(), extra=extra)
        raw = {f"model.{k}": v for k, v in model.state_dict().items()}  # a resume reads weights and optimizer here
        save_train_state(state_path, step, opt, data_rng, extra_tensors=raw)

    stop, restore_signals = catch_stop_signals()  # Ctrl-C, SIGTERM: finish the step, checkpoint, return
    while step < cfg.steps and not stop:
        # ---- one optimizer step on a random batch of frames
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = train[data_rng.integers(0, len(train), cfg.batch_size)]
        x = VAE.to_input(torch.from_numpy(batch).to(device))  # (B, 3, H, W) in [-1, 1]
        with amp:
            loss, logs = model.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)

        # ---- logging, evaluation, checkpoints
        if step % cfg.log_every == 0:
            now = time.perf_counter()
            for k, v in logs.items():
                tb.add_scalar(f"train/{k}", v, step)
            tb.add_scalar("train/grad_norm", float(gnorm), step)
            tb.add_scalar("train/lr", lr_at(step, cfg), step)
            tb.add_scalar("train/steps_per_s", cfg.log_every / (now - t_last), step)
            t_last = now
            bar.set_postfix(loss=f"{logs['loss']:.4f}", psnr=f"{logs['psnr']:.2f}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            checkpoint()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            metrics, recon = evaluate(model, eval_frames)
            for k in ("psnr", "ssim"):
                tb.add_scalar(f"eval/{k}", metrics[k], step)
            pair = np.concatenate([eval_frames[:8], recon[:8]], axis=1)  # (8, 2H, W, 3): real over reconstruction
            tb.add_images("eval/real_over_recon", pair, step, dataformats="NHWC")
            print(json.dumps({"step": step, **metrics}), flush=True)
    restore_signals()
    if stop:
        checkpoint()
        print(f"interrupted: {run} saved at step {step}; run the same command to resume", flush=True)
    bar.close()
    tb.close()
    if not metrics:  # nothing left to train: score the checkpoint as it is
        metrics, _ = evaluate(model, eval_frames)
    result = {"run_dir": str(run), "step": step, "eval_episodes": len(eval_idx), "device": str(device),
              "interrupted": bool(stop), **metrics}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(result, indent=2))
    return result
