"""What a step of `worldsim train` learns from beyond plain recorded windows: the reward classes of a recording,
the weights that make rare rewards and terminations count, each frame's camera pitch (``worldsim.models.pitch``),
and windows continued by the model's own rollout; and the dream strip a run logs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import numpy as np
import torch

from worldsim.data.latents import window_batch
from worldsim.models.dit import DiT
from worldsim.models.pitch import PitchRule, pitch_track
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


@dataclass
class PitchWindows:
    """Each training frame's camera pitch (``worldsim.models.pitch``) for a model with the pitch input: ``track``
    holds every frame's pitch in steps (``pitch_track`` of the store's actions: its episodes start at reset)."""

    rule: PitchRule
    track: np.ndarray
    drop: float  # share of windows whose pitch is unknown (a dream may start from frames alone)

    @classmethod
    def of(cls, want: bool, env_id: str | None, store, drop: float) -> PitchWindows | None:
        """Those of ``store`` (a ``FrameStore`` of the world ``env_id``) where ``want``; None where not wanted.
        ValueError where the world declares no ``view_pose`` (its camera's steps)."""
        if not 0.0 <= drop <= 1.0:
            raise ValueError(f"pitch_drop must be in [0, 1], got {drop}")
        if not want:
            return None
        from worldsim.memory import view_pose_of

        pose = view_pose_of(env_id)
        if pose is None:
            raise ValueError(f"pitch=true needs a world whose camera turns in known steps (a view_pose), but the "
                             f"latents record {env_id!r}, which declares none")  # fmt: skip
        rule = PitchRule.from_view_pose(pose)
        acts = store.actions.cpu().numpy() if torch.is_tensor(store.actions) else np.asarray(store.actions)
        return cls(rule, pitch_track(acts, store.ep_start, rule), float(drop))


def with_pitch(batch: dict, pitches: PitchWindows | None, picks: np.ndarray, rng: np.random.Generator) -> dict:
    """``batch`` (windows starting at ``picks``) with "pitch" (B, T): each frame's pitch index
    (``PitchRule.index``), a whole window unknown with probability ``pitches.drop``. Without pitches, as it is."""
    if pitches is None:
        return batch
    rule, length = pitches.rule, batch["latents"].shape[1]
    pitch = torch.as_tensor(pitches.track[picks[:, None] + np.arange(length)[None]] + rule.limit)
    pitch[torch.as_tensor(rng.random(len(picks)) < pitches.drop)] = rule.unknown
    return {**batch, "pitch": pitch.to(batch["latents"].device)}


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
        pitch = batch.get("pitch")  # the first frame's pitch (an unknown index lies outside the steps)
        s.reset(range(b), x[:, :keep], acts[:, 1:keep] if keep > 1 else None,
                None if pitch is None else pitch[:, 0] - model.pitch_rule.limit)  # fmt: skip
        dreamed = [s.step(acts[:, j])[0] for j in range(keep, end)]
    model.train(was_training)
    parts = [x[:, :keep], torch.stack(dreamed, 1).to(x.dtype), x[:, end:]]
    out = {**batch, "latents": torch.cat(parts, 1)}
    frame = torch.arange(length, device=x.device).expand(b, length)
    out["dreamed"] = (frame >= keep) & (frame < end)
    if real_tail:
        out["context"] = frame < end
    return out


@torch.no_grad()
def dream_strip(model: DiT, vae, store, start: int, cfg, horizon: int = 8) -> np.ndarray:
    """A rollout from real context with the recorded actions: real frames over dreamed frames (uint8 image)."""
    from worldsim.dream import rollout
    from worldsim.world_model import WorldModel

    ctx = cfg.window - 1
    w = window_batch(store, np.array([start]), ctx + horizon)
    wm = WorldModel(vae, model, replace(cfg.sampler, context=ctx), cfg.window, {})
    fake = rollout(wm, w["latents"].to(wm.device), w["actions"][:, 1:], horizon, seed=0)[0]
    real = vae.decode(w["latents"][0, ctx:].to(wm.device)).cpu().numpy()
    return np.concatenate([np.concatenate(list(real), 1), np.concatenate(list(fake), 1)], 0)
