"""The one dream rollout: start B dreams from real clips (or from nothing), step them with actions, get frames back.

    dream = Dream(wm, batch=4, seeds=[0, 1, 2, 3])
    dream.start(range(4), frames, actions)      # uint8 clips (4, L, H, W, 3), the L-1 actions between their frames
    out = dream.step(policy_actions)            # out.frames (4, H, W, 3), out.reward, out.terminated, ...
    frames = rollout(wm, clips, actions, horizon=32, seed=0)   # the same, driven by a recorded action sequence

Every place that dreams goes through here: the dream envs (``envs/world_model_env.py`` and the vector env), the
demo, the fidelity eval and the report card, the policy evaluation and the training run's TensorBoard strips. So a
dream is encoded, stepped, decoded, paid and ended the same way everywhere: an episode terminates when the model's
termination probability passes ``termination_threshold`` (``TERMINATION_THRESHOLD`` by default), and a step's
reward is the reward model's reading of the frame before, the new frame and the action where the world model has
one (``wm.reward_model``, DIAMOND's way: it pays for what changed on screen), the DiT's reward head otherwise; and
a dream whose world declares how its camera turns remembers its views (``worldsim.memory``: turn back to a view
while standing where it was shown, and it shows again), unless made with ``memory=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from worldsim.memory import ViewMemory

TERMINATION_THRESHOLD = 0.5  # a dream episode ends when the predicted termination probability passes this


def _floats(x, device=None) -> torch.Tensor:
    """Actions as a float32 tensor (on ``device``), from a tensor or anything numpy reads."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
    return t.to(device=device, dtype=torch.float32)


@dataclass
class DreamStep:
    """What one step of B dreams gives; arrays of the batch, on the host except ``latents``."""

    latents: torch.Tensor  # (B, C, h, w) on the model's device
    frames: np.ndarray | None  # uint8 (B, H, W, 3); None when the step was asked not to decode
    reward: np.ndarray  # (B,) float64, the predicted reward of the transition
    termination_prob: np.ndarray  # (B,) float64
    terminated: np.ndarray  # (B,) bool: termination_prob > the dream's threshold


class Dream:
    """``batch`` dreams of one world model, stepped together in one model call (see the module doc).

    Args:
        wm: a loaded ``WorldModel``.
        batch: how many dreams.
        seeds: one noise seed per dream (None: fresh entropy).
        termination_threshold: the termination probability past which a dream's episode ends (above 1: never).
        memory: keep a view memory (``worldsim.memory.ViewMemory``); None: ``wm.memory``, and where that is None
            too, where the model's real world declares a ``view_pose`` (the voxel world does); True where it
            declares none is a ValueError.
        **sampler: overrides of the model's sampler defaults (``steps``, ``context``, ``context_noise``, ``shift``).
    """

    def __init__(self, wm, batch: int = 1, seeds=None, termination_threshold: float = TERMINATION_THRESHOLD,
                 memory: bool | None = None, **sampler):  # fmt: skip
        if isinstance(termination_threshold, bool) or not isinstance(termination_threshold, (int, float, np.number)) \
                or np.isnan(termination_threshold):  # fmt: skip
            raise ValueError(f"termination_threshold must be a number (a probability; above 1 never ends), got "
                             f"{termination_threshold!r}")  # fmt: skip
        self.wm = wm
        self.termination_threshold = float(termination_threshold)
        self.sampler = wm.sampler(batch=batch, seeds=seeds, **{k: v for k, v in sampler.items() if v is not None})
        self._before = np.zeros((self.batch, *wm.frame_shape), np.uint8)  # each dream's frame now (reward model)
        self._has_before = np.zeros(self.batch, dtype=bool)  # False: started from nothing, no frame yet
        pose = memory_pose(wm, memory)
        # a view kept in a jump's flight comes back once half the context window old, where the DiT draws an old
        # view worse than such a view is (session 34: a view 44 steps back at 16.7 dB; on the real world such views
        # 24-47 steps old were exact 46% of the time, 17.8 dB or better 90%)
        self.memory = None if pose is None else ViewMemory(pose, self.batch, stale_after=(self.context + 1) // 2)

    @property
    def batch(self) -> int:
        return self.sampler.batch

    @property
    def context(self) -> int:
        """Frames of context the dreams keep."""
        return self.sampler.cfg.context

    @property
    def steps(self) -> int:
        """Sampler (Euler) steps per frame."""
        return self.sampler.cfg.steps

    def seed(self, seeds, indices=None) -> None:
        """Seed the noise of dreams ``indices`` (all by default); a None seed draws fresh entropy."""
        self.sampler.seed(seeds, indices)

    def start(self, indices, frames=None, actions=None, latents: torch.Tensor | None = None, pitch=None) -> None:
        """Start dreams ``indices`` afresh from clips: ``frames`` uint8 (B', L, H, W, 3), or their latents as a
        float tensor (B', L, C, h, w), and the L-1 actions between each clip's frames, flat (B', L-1, A) as the
        datasets store them (``WorldModel.flat_actions``). ``frames=None`` starts from nothing: the next step
        generates a first frame. Clips longer than the context keep their last frames. ``latents``: the uint8
        frames' latents where they are known already (``WorldModel.clip_latents``): the encoder is skipped.
        ``pitch``: each clip's first frame's camera pitch in the world's steps (B',), for a model that reads it
        (``worldsim.models.pitch``) and for the view memory's clamp (a real world's reset is level: 0); None (or
        None entries): unknown."""
        rule, indices = self.wm.dit.pitch_rule, list(indices)
        limit = rule.limit if rule else self.memory.pose.pitch_limit if self.memory is not None else None
        pitch = check_pitch(pitch, len(indices), limit)
        known = [None if p == UNKNOWN_PITCH else p for p in pitch or [None] * len(indices)]  # the memory's
        if frames is None:
            self.sampler.reset(indices, pitch=pitch)
            self._has_before[indices] = False
            for j, i in enumerate(indices if self.memory is not None else ()):
                self.memory.start(i, pitch=known[j])  # from nothing: no view yet
            return
        if latents is None:
            latents = frames if isinstance(frames, torch.Tensor) else self.wm.encode(frames)
        acts = _floats(actions) if actions is not None and np.shape(actions)[1] > 0 else None
        self.sampler.reset(indices, latents, acts, pitch=pitch)
        for j, i in enumerate(indices if self.memory is not None else ()):
            self.memory.start(i, latents[j], None if acts is None else acts[j], known[j])
        if self.wm.reward_model is not None:
            last = self.wm.decode(frames[:, -1]) if isinstance(frames, torch.Tensor) else np.asarray(frames)[:, -1]
            self._before[indices] = last
            self._has_before[indices] = True

    def step(self, actions, flat: bool = False, decode: bool = True) -> DreamStep:
        """One new frame in every dream, given the action into it: ``actions`` in the world model's action space,
        one per dream (checked; the first bad one is named), or already flat (B, A) floats with ``flat=True``."""
        if flat:
            acts = torch.as_tensor(actions, dtype=torch.float32).reshape(self.batch, -1)
        else:
            acts = self.wm.flat_actions(actions)
        recall = self.memory.recall(acts) if self.memory is not None else None
        z, r, p = self.sampler.step(acts, recall=recall)
        if self.memory is not None:
            self.memory.keep(z)
        p = p.float().cpu().numpy().astype(np.float64)  # results leave the device here
        r = r.float().cpu().numpy().astype(np.float64)
        frames = self.wm.decode(z) if decode or self.wm.reward_model is not None else None
        if self.wm.reward_model is not None:  # paid for what changed between the frames (no frame before: 0)
            r = np.where(self._has_before, self.wm.reward_model.predict(self._before, frames, acts), 0.0)
            self._before[:] = frames
            self._has_before[:] = True
        return DreamStep(z, frames if decode else None, r, p, p > self.termination_threshold)


def memory_pose(wm, memory: bool | None = None):
    """The ``ViewPose`` dreams of ``wm`` remember their views by (``worldsim.memory``), or None for no memory:
    ``memory`` False, or None (then ``wm.memory``) where its real world declares no pose for its actions."""
    from worldsim.envs import real_env_of
    from worldsim.memory import view_pose_of

    memory = getattr(wm, "memory", None) if memory is None else memory
    if memory is not None and not isinstance(memory, (bool, np.bool_)):
        raise ValueError(f"memory must be True, False or None (the world's default), got {memory!r}")
    if memory is False:
        return None
    pose = view_pose_of(real_env_of(wm))
    if pose is not None and not pose.fits(wm.action_space):
        pose = None  # a model of another action space than its named world's (a run before export names none)
    if pose is None and memory:
        raise ValueError(f"memory=True, but this world model's real world ({real_env_of(wm)}) declares no view_pose "
                         f"for its actions {wm.action_space}: a dream can only remember views where it knows how "
                         "the camera turns")  # fmt: skip
    return pose


@torch.no_grad()
def rollout(wm, frames, actions, horizon: int, seed: int = 0, context: int | None = None, steps: int | None = None,
            outcomes: bool = False, memory: bool | None = None, pitch=None):  # fmt: skip
    """Dream ``horizon`` frames after the first ``context`` frames of a batch of clips, driven by recorded actions.

    frames: uint8 (B, >= context, H, W, 3) or latents (B, >= context, C, h, w); actions: flat (B, context - 1 +
    horizon, A), the action after each frame. Dream i draws its noise from seed ``seed + i``; ``context`` defaults
    to the model's. Returns uint8 (B, horizon, H, W, 3); with ``outcomes`` also the predicted rewards and
    termination probabilities of the dreamed transitions, each (B, horizon). ``memory``, ``pitch`` (of each
    clip's first frame): as ``Dream``'s."""
    b = len(frames)
    dream = Dream(wm, b, seeds=[seed + i for i in range(b)], memory=memory, context=context, steps=steps)
    ctx = dream.context
    acts = _floats(actions, wm.device)
    dream.start(range(b), frames[:, :ctx], acts[:, : ctx - 1], pitch=pitch)
    out = [dream.step(acts[:, ctx - 1 + k], flat=True) for k in range(horizon)]
    dreamed = np.stack([o.frames for o in out], axis=1)
    if not outcomes:
        return dreamed
    return dreamed, np.stack([o.reward for o in out], 1), np.stack([o.termination_prob for o in out], 1)


__all__ = ["TERMINATION_THRESHOLD", "Dream", "DreamStep", "memory_pose", "rollout"]


UNKNOWN_PITCH = 10**6  # (outside any world's limit: the sampler reads it as unknown)


def check_pitch(pitch, n: int, limit: int | None = None) -> list[int] | None:
    """``pitch`` for ``n`` dreams: None, or n whole numbers within +-``limit`` (or None for unknown); TypeError /
    ValueError naming what came otherwise. Returns ints, UNKNOWN_PITCH in place of None."""
    if pitch is None:
        return None
    values = [pitch] if np.ndim(pitch) == 0 else list(np.asarray(pitch, dtype=object).ravel())
    if len(values) != n:
        raise ValueError(f"pitch must hold one value per dream ({n}), got {len(values)}")
    out = []
    for v in values:
        if v is None:
            out.append(UNKNOWN_PITCH)
        elif isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"pitch must be whole camera steps (or None: unknown), got {v!r}")
        elif limit is not None and abs(int(v)) > limit:
            raise ValueError(f"pitch must lie within +-{limit} camera steps (the world's limit), got {v}")
        else:
            out.append(int(v))
    return out
