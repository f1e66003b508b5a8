"""`worldsim/VoxelDream-v0` and `worldsim/Dream-v0`: a trained world model stepped as a Gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from worldsim.dream import TERMINATION_THRESHOLD, Dream
from worldsim.utils.window import RendersFrames


def _load(model, device="cpu", dtype=None, compile=False):
    """A loaded ``WorldModel`` as it is, or one loaded by name or path on ``device`` in ``dtype``."""
    from worldsim.world_model import WorldModel, load_world_model

    if model is None:
        raise ValueError("a dream env needs model=<world model name, folder or run path>")
    if isinstance(model, WorldModel):
        return model
    return load_world_model(str(model), device=device, dtype=dtype, compile=compile)


def check_clip(wm, frames, actions) -> tuple[np.ndarray, np.ndarray]:
    """Validate a starting clip against a world model: uint8 frames (T, H, W, 3) and T-1 actions in its space."""
    frames = np.asarray(frames)
    shape = wm.frame_shape
    if frames.dtype != np.uint8 or frames.ndim != 4 or tuple(frames.shape[1:]) != shape or len(frames) < 1:
        raise ValueError(f"options['frames'] must be uint8 of shape (T, {', '.join(map(str, shape))}) with T >= 1, "
                         f"got {frames.dtype} {frames.shape}")  # fmt: skip
    n = len(frames) - 1
    actions = np.asarray(actions if actions is not None else np.zeros((0, *wm.action_space.shape)))
    if len(actions) != n:
        raise ValueError(
            f"options['actions'] must hold {n} actions (one between each pair of frames), got {len(actions)}"
        )
    flat = wm.flat_actions(actions, "options['actions']") if n else np.zeros((0, wm.dit.action_width), np.float32)
    return frames, np.asarray(flat)


def check_compatible(wm, real_env_id: str) -> None:
    """ValueError naming the mismatch if the world model cannot stand in for ``real_env_id``."""
    from worldsim.envs import make_env

    real = make_env(real_env_id, wm.frame_shape)
    try:
        if real.action_space != wm.action_space:
            raise ValueError(
                f"this world model acts in {wm.action_space}, but {real_env_id} acts in {real.action_space}"
            )
        shape = tuple(real.observation_space.shape or ())
        if shape != wm.frame_shape:
            raise ValueError(f"this world model dreams frames of {wm.frame_shape}, but {real_env_id} shows {shape}")
    finally:
        real.close()


def start_clip(wm, options: dict | None, rng: np.random.Generator, context: int, dataset_root: str = "data/minari"
               ) -> tuple[np.ndarray | None, np.ndarray, torch.Tensor | None, int | None]:  # fmt: skip
    """The (frames, flat actions, latents, pitch) a dream's reset starts from, given the reset ``options``
    (``WorldModelEnv``): a clip the caller gives, a still, nothing (frames None: ``from_scratch``), or one of the
    model's held-out start clips chosen with ``rng`` (the first ``context`` frames). ``latents``: the frames'
    latents where they are known already (a model's own clip, ``WorldModel.clip_latents``), else None. ``pitch``:
    the first frame's camera pitch (``options['pitch']``, or the start clip's where the model ships it; None:
    unknown)."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"reset options must be a dict (or None), got {type(options).__name__}: {options!r}")
    known = {"frames", "actions", "image", "from_scratch", "pitch"}
    if set(options) - known:
        raise ValueError(f"unknown reset options {sorted(set(options) - known)}; use one of {sorted(known)}")
    starts = [k for k in ("frames", "image", "from_scratch") if k in options]
    if len(starts) > 1:
        raise ValueError(f"reset options {starts} each choose the start: give one of them")
    if "actions" in options and "frames" not in options:
        raise ValueError("options['actions'] go with options['frames'] (the actions between those frames)")
    if "pitch" in options and not starts:
        raise ValueError("options['pitch'] goes with options frames, image or from_scratch (the pitch they start at)")
    pitch = options.get("pitch")
    if pitch is not None and (isinstance(pitch, (bool, np.bool_)) or not isinstance(pitch, (int, np.integer))):
        raise TypeError(f"options['pitch'] must be whole camera steps (or None: unknown), got {pitch!r}")
    none = np.zeros((0, wm.dit.action_width), np.float32)
    scratch = options.get("from_scratch", False)
    if not isinstance(scratch, (bool, np.bool_)):
        raise TypeError(f"options['from_scratch'] must be True or False, got {scratch!r}")
    if scratch:
        return None, none, None, pitch
    if "image" in options:
        image = np.asarray(options["image"])
        if image.dtype != np.uint8 or image.shape != wm.frame_shape:
            raise ValueError(
                f"options['image'] must be uint8 of shape {wm.frame_shape}, got {image.dtype} {image.shape}"
            )
        return image[None], none, None, pitch
    if "frames" in options:
        return (*check_clip(wm, options["frames"], options.get("actions")), None, pitch)
    if wm.clips is None:  # a training run folder: clips from the held-out episodes of its dataset
        try:
            wm.clips = wm.held_out_clips(dataset_root, length=context)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(
                f"this world model ships no start clips and its dataset's held-out episodes cannot be read "
                f"({exc}): pass dataset_root=<the datasets folder> to the env, export the model (worldsim "
                "export), or reset with options frames/image/from_scratch"
            ) from exc
    k = int(rng.integers(len(wm.clips["frames"])))
    pitch = int(wm.clips["pitch"][k]) if "pitch" in wm.clips else None
    return wm.clips["frames"][k, :context], wm.clips["actions"][k, : context - 1], wm.clip_latents(k, context), pitch


class WorldModelEnv(RendersFrames, gym.Env[np.ndarray, np.ndarray]):
    """A dream: each step the world model's DiT generates the next frame from the frames before it and the
    action, with reward and termination from its heads.

    Observation: uint8 frames of the world the model was trained on (H, W, 3). Action space: that world's, read
    from the checkpoint.

    ``reset(seed=None, options=None)`` starts from a real held-out clip shipped with the model, chosen by the
    seed; or, with options:
    - ``{"frames": uint8 (T, H, W, 3), "actions": T-1 actions}``: continue exactly this clip (``actions[i]`` was
      taken between ``frames[i]`` and ``frames[i+1]``);
    - ``{"image": uint8 (H, W, 3)}``: animate a single still;
    - ``{"from_scratch": True}``: generate the first frame from noise;
    - with any of these, ``"pitch"``: the camera pitch of the first frame, in the world's steps (a real reset is
      level, 0), for a model that reads it (``worldsim.models.pitch``); without it, unknown.

    ``step`` returns the predicted reward, ``terminated`` when the predicted termination probability passes
    ``termination_threshold`` (the one rule of ``worldsim.dream``), and ``truncated`` after ``horizon`` steps.
    ``info``: ``sampler_steps``, ``reward_pred``, ``termination_prob`` and ``dream_step``.

    Args:
        model: a world-model name (``"voxel"``), a folder or run path, or a loaded ``WorldModel``.
        render_mode: ``"rgb_array"`` or ``"human"`` (a pygame window).
        horizon: steps before truncation.
        sampler_steps: Euler steps per frame (None: the model's default).
        context: frames of context the sampler keeps (None: the model's default).
        termination_threshold: termination probability that ends an episode.
        real_env_id: the real env this dream stands in for; a model made for another action space or frame size
            is refused (``worldsim/VoxelDream-v0`` sets ``worldsim/Voxel-v0``).
        device, dtype, compile: where and how the model runs (``worldsim.runtime``): ``device="cuda"`` puts it on
            a GPU (bfloat16 there by default); observations still come back as numpy.
        dataset_root: where a training run folder's dataset lives: its held-out episodes give the start clips
            that an exported model ships.
        memory: remember views (``worldsim.memory``): turning back to a view while standing where it was shown
            shows it again; None: where the real world declares how its camera turns (the voxel world does).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 20}
    window_title = "worldsim: dream"

    def __init__(self, model=None, render_mode: str | None = None, horizon: int = 1000,
                 sampler_steps: int | None = None, context: int | None = None,
                 termination_threshold: float = TERMINATION_THRESHOLD, window_scale: int = 8,
                 real_env_id: str | None = None, device: str = "cpu", dtype: str | None = None, compile: bool = False,
                 dataset_root: str = "data/minari", memory: bool | None = None):  # fmt: skip
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        self.wm = _load(model, device, dtype, compile)
        if real_env_id is not None:
            check_compatible(self.wm, real_env_id)
        self.render_mode = render_mode
        self.horizon = int(horizon)
        self.window_scale = int(window_scale)
        self.dataset_root = str(dataset_root)
        self.dream = Dream(self.wm, 1, [0], termination_threshold, memory, steps=sampler_steps,
                           context=context)  # fmt: skip
        self.observation_space = gym.spaces.Box(0, 255, self.wm.frame_shape, np.uint8)
        self.action_space = self.wm.action_space
        self._frame: np.ndarray | None = None
        self._window = None

    # ------------------------------------------------------------------------------------------ reset/step
    @property
    def sampler(self):
        """The dream's sampler (its ``cfg``: steps, context, ...)."""
        return self.dream.sampler

    def start_clip(self, options: dict | None) -> tuple[np.ndarray | None, np.ndarray, torch.Tensor | None, int | None]:
        """The (frames, flat actions, latents or None, pitch or None) a reset starts from; frames is None for
        ``from_scratch``."""
        return start_clip(self.wm, options, self.np_random, self.dream.context, self.dataset_root)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        frames, actions, latents, pitch = self.start_clip(options)
        self.dream.seed([int(self.np_random.integers(2**62))])
        self._t = 0
        if frames is None:
            self.dream.start([0], pitch=None if pitch is None else [pitch])
            self._frame = self.dream.step(np.zeros((1, self.wm.dit.action_width)), flat=True).frames[0]  # from nothing
        else:
            self.dream.start([0], frames[None], actions[None], None if latents is None else latents[None],
                             pitch=None if pitch is None else [pitch])  # fmt: skip
            self._frame = frames[-1].copy()
        if self.render_mode == "human":
            self._show()
        return self._frame.copy(), {"sampler_steps": self.dream.steps, "dream_step": 0}

    def step(self, action):
        if self._frame is None:
            raise gym.error.ResetNeeded("WorldModelEnv: call reset() before step()")
        out = self.dream.step(np.asarray(action)[None])
        self._frame = out.frames[0]
        self._t += 1
        p, r = float(out.termination_prob[0]), float(out.reward[0])
        info = {"sampler_steps": self.dream.steps, "reward_pred": r, "termination_prob": p, "dream_step": self._t}
        if self.render_mode == "human":
            self._show()
        return self._frame.copy(), r, bool(out.terminated[0]), self._t >= self.horizon, info
