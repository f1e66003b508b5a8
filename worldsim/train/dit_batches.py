"""What a step of `worldsim train` learns from beyond plain recorded windows: the reward classes of a recording,
the weights that make rare rewards and terminations count, and windows continued by the model's own rollout."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import torch

from worldsim.models.dit import DiT
from worldsim.sampler import SamplerConfig

MAX_REWARD_CLASSES = 16  # reward="auto" predicts classes up to this many distinct reward values


def reward_values_of(rewards: np.ndarray, mode: str, keep=None) -> tuple[float, ...] | None:
    """The reward classes a DiT predicts for a recording whose transitions got ``rewards`` (None: regression).
    ``keep``: the classes of the model a run warm-starts from, kept (``auto``) where every reward is among them:
    data without a -1 would otherwise drop that class and start the reward head afresh."""
    if mode not in ("auto", "classes", "regression"):
        raise ValueError(f"reward must be auto, classes or regression, got {mode!r}")
    values = np.unique(np.asarray(rewards, dtype=np.float64))
    if mode == "auto" and keep and set(values.tolist()) <= set(keep):
        return tuple(float(v) for v in keep)
    if mode == "regression" or (mode == "auto" and not 2 <= len(values) <= MAX_REWARD_CLASSES):
        return None
    if len(values) < 2:
        raise ValueError(f"reward=classes needs at least two distinct rewards in the recording, got {values.tolist()}")
    if len(values) > 64:
        raise ValueError(f"reward=classes: the recording has {len(values)} distinct rewards; use reward=regression")
    return tuple(float(v) for v in values)


def reward_class_weights(model: DiT, rewards: np.ndarray, balance: float) -> torch.Tensor | None:
    """Per-class weights of the reward cross-entropy: frequency ** -balance, scaled so that the mean weight over
    the recording's transitions is 1 (so the loss keeps its scale)."""
    if not model.cfg.reward_values:
        return None
    values = np.asarray(model.cfg.reward_values)  # (on the host: the model may sit on a GPU)
    classes = np.abs(np.asarray(rewards, dtype=np.float64)[:, None] - values).argmin(1)  # as DiT.reward_class
    freq = np.bincount(classes, minlength=len(model.cfg.reward_values)) / max(len(classes), 1)
    w = np.where(freq > 0, np.maximum(freq, 1e-12) ** -float(balance), 0.0)
    w = w / max(float((freq * w).sum()), 1e-12)
    return torch.as_tensor(w, dtype=torch.float32)


def termination_pos_weight(terminations: np.ndarray, balance: float, device=None) -> torch.Tensor | None:
    """The weight of a terminating transition in the termination BCE: ((1 - p) / p) ** balance for the share p of
    transitions that terminate (None where none does, or none does not)."""
    p = float(np.mean(terminations)) if len(terminations) else 0.0
    if not 0.0 < p < 1.0:
        return None
    return torch.tensor(((1 - p) / p) ** float(balance), dtype=torch.float32, device=device)


@torch.no_grad()
def dreamed_batch(model: DiT, batch: dict, keep: int, sampler: SamplerConfig, seed: int, real_tail: int = 0,
                  dtype: torch.dtype = torch.float32) -> dict:  # fmt: skip
    """``batch`` with every window's frames after the first ``keep`` replaced by the model's own rollout from them,
    driven by the window's recorded actions (labels unchanged: the real world's reward at the same step;
    ``dreamed`` (B, T) bool marks the dreamed frames).

    ``real_tail``: the window's last ``real_tail`` frames stay the real ones and are the only targets (``context``
    marks every frame before them): the model learns to continue its own, drifted, rollout towards what the world
    showed (the scheduled-sampling / self-forcing remedy for drift; with every frame dreamed, the frame loss would
    teach the model its own drift). The first of them reads the last dreamed frame as its previous frame; those
    after it hold the dreamed stretch in their context (what a dream's memory holds). ``dtype``: the rollout's
    autocast dtype (bfloat16 on a GPU). A compiled model (``model.compile()``) rolls out eagerly: the rollout's
    shapes change with ``keep`` and would recompile."""
    from worldsim.sampler import Sampler

    x, acts = batch["latents"], batch["actions"]
    b, length = x.shape[:2]
    if not 0 <= real_tail < length:
        raise ValueError(f"real_tail must be in [0, {length - 1}] for windows of {length} frames, got {real_tail}")
    end = length - real_tail
    if not 1 <= keep < end:
        raise ValueError(f"keep must be in [1, {end - 1}] for windows of {length} frames, got {keep}")
    was_training = model.training
    eager = getattr(torch.compiler, "set_stance", None)  # torch >= 2.6; before it nothing is compiled in place here
    with eager("force_eager") if eager is not None else contextlib.nullcontext():
        s = Sampler(model, replace(sampler, context=min(sampler.context, length - 1)), b,
                    seeds=[seed + i for i in range(b)], dtype=dtype)  # fmt: skip
        s.reset(range(b), x[:, :keep], acts[:, 1:keep] if keep > 1 else None)
        dreamed = [s.step(acts[:, j])[0] for j in range(keep, end)]
    model.train(was_training)
    parts = [x[:, :keep], torch.stack(dreamed, 1).to(x.dtype), x[:, end:]]
    out = {**batch, "latents": torch.cat(parts, 1)}
    frame = torch.arange(length, device=x.device).expand(b, length)
    out["dreamed"] = (frame >= keep) & (frame < end)
    if real_tail:
        out["context"] = frame < end
    return out
