"""View memory: a dream that turns back to a view it has already shown, while standing where it stood, shows it again.

A sliding window of context frames forgets whatever left it: look away for longer than the window and back, or
turn a full circle, and the dream draws the view anew. In a world whose camera turns in fixed steps (the voxel
world: 5 degrees a step, 72 to a full turn) the dream can know its own view pose exactly: yaw and pitch are the
running sum of its camera actions. ``ViewMemory`` keeps, per dream, the latest frame it showed at each pose since
the player last moved or changed the world (the *epoch*); when an action brings the camera back to a pose held there,
the sampler commits that frame instead of a fresh draw (``Sampler.step(recall=...)``): it enters the context, is
paid and judged for termination as any dreamed frame. This is WorldMem's idea (retrieve past frames by pose) in the
exact form a world with discrete camera steps allows, with no training.

What counts as moving comes from the world (``ViewPose``, a real env's ``view_pose`` class attribute, read by
``view_pose_of(env_id)``): every action value outside ``still`` starts a new epoch (walking, jumping, breaking and
placing); ``settle`` gives, for such values, how many steps after them the player may still be moving (a jump's
flight, a fall after a block gives way) and nothing is kept for sure. Where such steps are a *flight* (``flights``:
the jump), the views shown are kept as *unsettled*: the player may still be rising or falling, so such a view comes
back only once it is ``stale_after`` steps old (the dream gives half its context window), where the DiT draws an
old view worse than a view from a little higher is (session 34); a later view at the same pose replaces it. After
a change to the world (a break) nothing the dream draws is kept until it settles: the DiT draws a broken block over
a few frames, and the first would bring the block back; a start clip's real frames after a break show the world as
it is and are kept as unsettled (the player may be falling through the gap; session 35). What it cannot see: a
player walking into a wall stays put but starts an epoch (safe), and one drifting in water or falling with no action
is stored as if standing (the memory then shows a view from a little higher). A world without ``view_pose`` dreams
without memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the real envs declare a ViewPose: importing one must not import torch
    import torch


@dataclass(frozen=True)
class ViewPose:
    """How a world's actions turn its camera and move its player (all in the flat action vector's columns)."""

    nvec: tuple[int, ...]  # the MultiDiscrete action space it describes (a model of another space has no memory)
    column: int  # the action column of the camera
    yaw: dict[int, int]  # camera value -> yaw steps it turns (signed)
    pitch: dict[int, int]  # camera value -> pitch steps (signed)
    turn: int  # yaw steps in a full turn
    pitch_limit: int  # pitch is clamped to +- this many steps
    still: dict[int, tuple[int, ...]] = field(default_factory=dict)  # column -> values that leave player and world
    settle: dict[tuple[int, int], int] = field(default_factory=dict)  # (column, value) -> steps not to store after
    flights: tuple[tuple[int, int], ...] = ()  # (column, value) whose settle steps only move the player (a jump)

    def __post_init__(self):
        if self.turn < 1 or self.pitch_limit < 0:
            raise ValueError(f"ViewPose needs turn >= 1 and pitch_limit >= 0, got {self.turn}, {self.pitch_limit}")
        if not 0 <= self.column < len(self.nvec) or any(not 0 <= c < len(self.nvec) for c in self.still) \
                or any(not 0 <= c < len(self.nvec) for c, _ in self.flights):  # fmt: skip
            raise ValueError(f"ViewPose columns must lie in its action space's {len(self.nvec)} columns")

    def fits(self, space) -> bool:
        """Whether ``space`` is the action space this pose describes."""
        import gymnasium as gym

        return isinstance(space, gym.spaces.MultiDiscrete) and tuple(int(n) for n in space.nvec) == tuple(self.nvec)


def view_pose_of(env_id: str | None) -> ViewPose | None:
    """The ``view_pose`` a real env's class declares (None: the env declares none, or is not registered)."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    from worldsim.envs import resolve_env_id

    if not env_id:
        return None
    try:
        spec = gym.spec(resolve_env_id(env_id))
        creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    except (gym.error.Error, ValueError, ImportError, AttributeError):
        return None
    pose = getattr(creator, "view_pose", None)
    return pose if isinstance(pose, ViewPose) else None


class ViewMemory:
    """Per-dream view poses and the frames last shown at each, for ``batch`` dreams (see the module doc)."""

    def __init__(self, pose: ViewPose, batch: int, stale_after: int | None = None):
        """``stale_after``: the age in steps from which a view kept while the player was unsettled comes back
        (the dream's context length; None: never, only views of a settled player come back)."""
        if stale_after is not None and (isinstance(stale_after, bool) or int(stale_after) < 1):
            raise ValueError(f"ViewMemory: stale_after must be a number of steps >= 1 or None, got {stale_after!r}")
        self.pose, self.batch = pose, int(batch)
        self.stale_after = None if stale_after is None else int(stale_after)
        self.clock = np.zeros(batch, np.int64)  # steps each dream has taken (a view's age is clock - its step)
        self.yaw = np.zeros(batch, np.int64)
        self.pitch = np.zeros(batch, np.int64)
        self.unsettled = np.zeros(batch, np.int64)  # steps left before the player is sure to stand still
        self.unkept = np.zeros(batch, np.int64)  # steps left in which a view is not kept even as unsettled
        # pose -> (latent, the step it was shown at, whether the player stood settled)
        self.views: list[dict[tuple[int, int], tuple[torch.Tensor, int, bool]]] = [{} for _ in range(batch)]

    def __len__(self) -> int:
        return sum(len(v) for v in self.views)

    def _advance(self, i: int, action: np.ndarray) -> None:
        """Dream ``i`` takes one flat action: its pose turns, and moving starts a new epoch."""
        p = self.pose
        self.clock[i] += 1
        cam = int(round(float(action[p.column])))
        self.yaw[i] = (self.yaw[i] + p.yaw.get(cam, 0)) % p.turn
        self.pitch[i] = min(max(self.pitch[i] + p.pitch.get(cam, 0), -p.pitch_limit), p.pitch_limit)
        settle = changed = -1
        for c, still in p.still.items():
            v = int(round(float(action[c])))
            if v not in still:
                settle = max(settle, p.settle.get((c, v), 0))
                if (c, v) not in p.flights:
                    changed = max(changed, p.settle.get((c, v), 0))
        self.unsettled[i] = max(self.unsettled[i] - 1, settle, 0)  # a jump's flight goes on while walking
        self.unkept[i] = max(self.unkept[i] - 1, changed, 0)
        if settle >= 0:  # moved or changed the world: what the memory holds is no longer what is there
            self.views[i].clear()

    def _keep(self, i: int, latent: torch.Tensor, real: bool = False) -> None:
        # within an epoch the player only settles, so the latest view at a pose is also the likeliest right one;
        # a ``real`` frame (a start clip's) shows a change to the world as it is, so after a break it is kept too
        settled = bool(self.unsettled[i] == 0)
        if settled or (self.stale_after is not None and (real or self.unkept[i] == 0)):
            self.views[i][(int(self.yaw[i]), int(self.pitch[i]))] = (latent.detach().clone(), int(self.clock[i]),
                                                                    settled)  # fmt: skip

    def _view(self, i: int) -> torch.Tensor | None:
        """Dream ``i``'s remembered view at its pose now, if one may come back."""
        kept = self.views[i].get((int(self.yaw[i]), int(self.pitch[i])))
        if kept is None:
            return None
        latent, step, settled = kept
        if settled or (self.stale_after is not None and self.clock[i] - step >= self.stale_after):
            return latent
        return None

    def start(self, i: int, latents: torch.Tensor | None = None, actions=None, pitch: int | None = None) -> None:
        """Dream ``i`` starts afresh at yaw 0: from nothing, or from a clip of latents (L, C, h, w), taken as the
        world's own frames, and the L-1 flat actions between them (its frames from the clip's last epoch are
        remembered, those after a break as unsettled). ``pitch``: the first frame's
        camera pitch in steps where known (the clamp at the world's limit then falls where the world's does);
        None counts from level, which misplaces views of a clip that starts tilted and reaches the limit."""
        if pitch is not None and abs(int(pitch)) > self.pose.pitch_limit:
            raise ValueError(f"ViewMemory.start: pitch must lie within +-{self.pose.pitch_limit} steps, got {pitch}")
        self.yaw[i] = self.unsettled[i] = self.unkept[i] = self.clock[i] = 0
        self.pitch[i] = 0 if pitch is None else int(pitch)
        self.views[i].clear()
        if latents is None:
            return
        if hasattr(actions, "cpu"):
            actions = actions.cpu()
        acts = np.zeros((0, 0)) if actions is None else np.asarray(actions, dtype=np.float64)
        if len(acts) != len(latents) - 1:
            raise ValueError(f"ViewMemory.start: {len(latents)} frames need {len(latents) - 1} actions, got "
                             f"{len(acts)}")  # fmt: skip
        self._keep(i, latents[0], real=True)
        for k, a in enumerate(acts, start=1):
            self._advance(i, a)
            self._keep(i, latents[k], real=True)

    def recall(self, actions) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Every dream takes its action (flat (B, A)); returns (hit mask (B,), latents (B, C, h, w)) of the dreams
        whose new pose holds a remembered view, or None when none does. Call ``keep`` with the new frames after."""
        import torch

        acts = np.asarray(actions.cpu() if isinstance(actions, torch.Tensor) else actions, dtype=np.float64)
        views = []
        for i in range(self.batch):
            self._advance(i, acts[i])
            views.append(self._view(i))
        first = next((v for v in views if v is not None), None)
        if first is None:
            return None
        mask = torch.tensor([v is not None for v in views], device=first.device)
        return mask, torch.stack([first if v is None else v for v in views])

    def keep(self, latents: torch.Tensor) -> None:
        """The frames (B, C, h, w) the dreams now show, remembered at their poses (see the module doc)."""
        for i in range(self.batch):
            self._keep(i, latents[i])


__all__ = ["ViewMemory", "ViewPose", "view_pose_of"]
