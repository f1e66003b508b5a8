"""WorldModel = VAE + DiT + sampler settings: what a trained world model is, and how to load one.

    wm = worldsim.load_world_model("voxel")          # the shipped voxel model
    wm = worldsim.load_world_model("runs/dit-voxel")  # a training run
    wm = worldsim.load_world_model("voxel", device="cuda", dtype="bfloat16", compile=True)  # on a GPU
    sampler = wm.sampler(batch=4, seeds=[0, 1, 2, 3])

``device``, ``dtype`` and ``compile`` (``worldsim.runtime``): the weights live on ``device`` in float32; with
bfloat16 every DiT pass and every VAE call runs under autocast and the sampler keeps its KV cache in bfloat16.
Under ``auto`` on a CPU with AMX, calls on 8 or more dreams or frames run in bfloat16, smaller ones in float32
(``WorldModel.dtype_for``): the same seed then dreams nearly, not exactly, the same frames in a batch of 1 and
of 32 (``dtype="float32"`` for frames that do not depend on the batch).
Latents stay on the device; ``decode`` hands frames back as numpy, the only place they leave it.

A world-model folder holds ``vae.safetensors``, ``dit.safetensors`` and optionally ``clips.npz`` (real held-out
clips to start dreams from) and ``reward.safetensors`` (the reward model a dream's steps are paid by,
``worldsim/models/reward_model.py``; without it, the DiT's reward head pays). A DiT training run folder holds
``model.safetensors`` (EMA weights) whose metadata names the VAE it was trained with; the VAE's SHA-256 is checked
so a DiT is never paired with another VAE.
"""

from __future__ import annotations

import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from worldsim import runtime
from worldsim.assets import ASSETS, model_folder, shipped_models
from worldsim.checkpoint import CheckpointError, has_content_hash, load_model, load_state_into, save_model
from worldsim.models.actions import check_actions, space_from_json
from worldsim.models.dit import DiT, DiTConfig
from worldsim.models.reward_model import RewardModel, RewardModelConfig
from worldsim.models.vae import VAE, load_vae
from worldsim.sampler import Sampler, SamplerConfig


@dataclass
class WorldModel:
    vae: VAE
    dit: DiT
    sampler_cfg: SamplerConfig  # the defaults a dream uses (steps, context, stabilisation noise)
    window: int  # frames per training window (context may be at most window - 1)
    info: dict  # provenance: dataset, steps trained, VAE hash, ...
    clips: dict[str, np.ndarray] | None = None  # held-out real clips: frames (K, L, H, W, 3), actions (K, L-1, A),
    # and for a model that reads the camera's pitch, each clip's first frame's (K,) (models/pitch.py)
    dtype: torch.dtype = torch.float32  # compute precision of sampling (bfloat16: autocast; worldsim.runtime)
    compile: bool = False  # torch.compile the sampler's cached pass
    reward_model: RewardModel | None = None  # pays each dream step from its frames (None: the DiT's reward head)
    reward_info: dict | None = None  # what the reward model's checkpoint says of its training
    memory: bool | None = None  # its dreams' view memory (worldsim.memory): None where its world declares a pose
    dtype_auto: bool = False  # ``dtype`` came from ``auto``: on a CPU each call picks by its batch (dtype_for)
    _clip_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # clip_latents'

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    def dtype_for(self, batch: int | None = None) -> torch.dtype:
        """The precision of a call on ``batch`` items (dreams, frames): ``dtype``, except that under ``auto`` on a
        CPU a small batch runs in float32 (``runtime.CPU_BF16_MIN_BATCH``: there bf16 kernels do not pay)."""
        return runtime.resolve_dtype("auto", self.device, batch=batch) if self.dtype_auto else self.dtype

    def amp(self, batch: int | None = None):
        """The autocast context of this model's device and the precision of a call on ``batch`` items (a no-op
        in float32)."""
        return runtime.autocast(self.device, self.dtype_for(batch))

    @property
    def action_space(self) -> gym.Space:
        return self.dit.action_space

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return (*self.vae.cfg.resolution, 3)

    def encode(self, frames) -> torch.Tensor:
        """uint8 frames (..., H, W, 3) -> float32 latents (..., C, h, w) on the model's device. The precision is
        that of a call on as many dreams as the first axis holds (``dtype_for``), whatever the frames per dream."""
        frames = torch.as_tensor(np.asarray(frames)).to(self.device)
        lead = frames.shape[:-3]
        flat = frames.reshape(-1, *frames.shape[-3:])
        with self.amp(lead[0] if lead else 1):
            z = self.vae.encode(flat).float()
        return z.reshape(*lead, *z.shape[1:])

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """latents (..., C, h, w) -> uint8 frames (..., H, W, 3) as numpy (the one place frames leave the device);
        the precision as ``encode``'s."""
        lead = latents.shape[:-3]
        flat = latents.to(self.device).reshape(-1, *latents.shape[-3:])
        with self.amp(lead[0] if lead else 1):
            x = self.vae.decode(flat)
        return x.reshape(*lead, *x.shape[1:]).cpu().numpy()

    def clip_latents(self, k: int, length: int) -> torch.Tensor:
        """The latents (length, C, h, w) of start clip ``k``'s first ``length`` frames (``clips``), encoded as a
        single dream's reset encodes a clip (``dtype_for(1)``) the first time and kept: resets from the model's
        own clips skip the encoder (a reset of 32 dreams spent about half its time there). New ``clips`` start
        a new cache."""
        frames = self.clips["frames"]
        if self._clip_cache.get("source") is not frames:
            self._clip_cache.clear()
            self._clip_cache["source"] = frames
        key = (int(k), int(length), self.dtype_for(1), self.device)
        if key not in self._clip_cache:
            self._clip_cache[key] = self.encode(frames[k, :length][None])[0]
        return self._clip_cache[key]

    def flat_actions(self, actions, what: str = "action") -> torch.Tensor:
        """Validate actions (N, ...) against the action space and flatten them to float (N, A) on the device."""
        actions = check_actions(self.action_space, actions, what)
        flat = torch.as_tensor(np.asarray(actions, dtype=np.float32).reshape(len(actions), -1))
        return flat.to(self.device)

    def flat_action_runs(self, actions, what: str = "action") -> torch.Tensor:
        """Runs of actions (B, L, ...), one run per dream, validated and flattened to float (B, L, A) on the device."""
        actions = np.asarray(actions)
        if actions.ndim < 2 + len(self.action_space.shape or ()):
            raise ValueError(f"{what}s: expected runs (dreams, steps, *{self.action_space.shape}), got {actions.shape}")
        runs, steps = actions.shape[:2]
        return self.flat_actions(actions.reshape(runs * steps, *actions.shape[2:]), what).reshape(runs, steps, -1)

    def held_out_clips(self, root: str = "data/minari", count: int = 16, length: int = 16, eval_fraction: float = 0.05,
                       split_seed: int = 0, seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
        """``count`` real clips of ``length`` frames (and the actions between them) from the held-out episodes of
        the dataset the model was trained on: what a dream starts from. A training run folder has no clips of its
        own; this gives it some (FileNotFoundError naming the dataset and ``root`` where it is not found)."""
        from worldsim.data.dataset import load_held_out, pick_clips

        dataset_id = self.info.get("dataset_id")
        if not dataset_id:
            raise ValueError("this world model does not name its dataset: start dreams with reset options frames/image")
        store = load_held_out(dataset_id, root, eval_fraction, split_seed, self.frame_shape)
        starts = pick_clips(store, length, count, seed)
        idx = starts[:, None] + np.arange(length)[None]
        clips = {"frames": store.frames[idx], "actions": store.actions[idx[:, :-1]]}
        if self.dit.pitch_rule is not None:  # the episodes start at reset: their pitch is known from the actions
            from worldsim.models.pitch import pitch_track

            clips["pitch"] = pitch_track(store.actions, store.ep_start, self.dit.pitch_rule)[starts]
        return clips

    def set_std_floor(self, quantile: float | None, root: str = "data/minari") -> list[float] | None:
        """Set the sampler's contrast floor (``SamplerConfig.std_floor``) to the ``quantile`` of real frames'
        per-channel latent std: real frames are this folder's clips, or held-out clips of the model's dataset
        under ``root``; 0 or None turns the floor off. Returns the floor."""
        from worldsim.sampler import latent_std_floor

        return self._set_from_real("std_floor", quantile, 1.0, latent_std_floor, root, "real frames' contrast")

    def set_mean_band(self, quantile: float | None, root: str = "data/minari") -> list[list[float]] | None:
        """Set the sampler's colour band (``SamplerConfig.mean_band``) to the ``quantile`` and ``1 - quantile`` of
        real frames' per-channel latent means (the frames as ``set_std_floor`` takes them); 0 or None turns it off.
        Returns the band."""
        from worldsim.sampler import latent_mean_band

        return self._set_from_real("mean_band", quantile, 0.5, latent_mean_band, root, "real frames' colours")

    def set_sampler_limits(self, std_floor: float | None = None, mean_band: float | None = None,
                           root: str = "data/minari") -> None:  # fmt: skip
        """What every command's ``std_floor`` and ``mean_band`` options do: None keeps the model's own, 0 drops it,
        a quantile sets it from real frames (``set_std_floor``, ``set_mean_band``)."""
        if std_floor is not None:
            self.set_std_floor(std_floor, root)
        if mean_band is not None:
            self.set_mean_band(mean_band, root)

    def _set_from_real(self, field: str, quantile, top: float, measure, root: str, what: str):
        from dataclasses import replace

        if quantile is not None and (isinstance(quantile, bool) or not isinstance(quantile, (int, float))
                                     or not 0 <= quantile < top):  # fmt: skip
            raise ValueError(f"{field} must be a quantile in (0, {top:g}) of {what}, or 0 / null for none, got "
                             f"{quantile!r}")  # fmt: skip
        if not quantile:
            self.sampler_cfg = replace(self.sampler_cfg, **{field: None})
            return None
        clips = self.clips if self.clips is not None else self.held_out_clips(root, count=64, length=16)
        frames = clips["frames"].reshape(-1, *self.frame_shape)
        with torch.no_grad():
            latents = torch.cat([self.encode(frames[i : i + 256]).float().cpu() for i in range(0, len(frames), 256)])
        value = measure(latents, float(quantile))
        self.sampler_cfg = replace(self.sampler_cfg, **{field: value})
        return value

    def sampler(self, batch: int = 1, seeds=None, **overrides) -> Sampler:
        cfg = SamplerConfig(**{**asdict(self.sampler_cfg), **overrides})
        if cfg.context > self.window - 1:
            raise ValueError(
                f"sampler context {cfg.context} exceeds what the model was trained for ({self.window - 1})"
            )
        return Sampler(self.dit, cfg, batch, seeds, dtype=self.dtype_for(batch), compile=self.compile)

    def save(
        self, folder: str | Path, dtype: torch.dtype | None = torch.float16, vae_dtype: torch.dtype | None = None
    ) -> Path:
        """Write a self-contained world-model folder: the DiT in ``dtype`` (fp16 by default), the VAE in
        ``vae_dtype`` (fp32 by default: it is small, and a latent cache built with it matches the training one)."""
        import shutil

        from worldsim.data.latents import file_sha256

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vae_path = folder / "vae.safetensors"
        src = Path(self.info.get("vae_file", ""))
        if vae_dtype is None and src.is_file() and self.info.get("vae_sha256") == file_sha256(src):
            shutil.copyfile(src, vae_path)  # the very file the DiT was trained with: latent caches stay valid
        else:
            save_model(vae_path, "vae", self.vae.cfg, self.vae.state_dict(), dtype=vae_dtype)
        info = {**self.info, "vae_sha256": file_sha256(vae_path)}  # the DiT names the VAE beside it
        extra = {"window": self.window, "sampler": asdict(self.sampler_cfg), "info": info}
        save_model(folder / "dit.safetensors", "dit", self.dit.cfg, self.dit.state_dict(), extra=extra, dtype=dtype)
        if self.clips is not None:
            np.savez_compressed(folder / "clips.npz", **self.clips)
        if self.reward_model is not None:
            rm = self.reward_model
            save_model(folder / "reward.safetensors", "reward", rm.cfg, rm.state_dict(), extra=self.reward_info,
                       dtype=dtype)  # fmt: skip
        elif (folder / "reward.safetensors").is_file():  # a folder re-saved without one pays with the head
            (folder / "reward.safetensors").unlink()
        return folder


def build_dit(config: dict, path) -> DiT:
    try:
        # fields saved before they existed take the behaviour of that time: no previous-frame input, velocity head
        cfg = DiTConfig(**{"prev_frame": False, "output": "velocity", **config})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its DiT config does not fit this worldsim: {exc}") from exc
    return DiT(cfg)


def load_world_model(name_or_path: str, device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None,
                     compile: bool = False, reward: str | bool | None = None) -> WorldModel:  # fmt: skip
    """A world model by shipped name (``"voxel"``), world-model folder, or DiT training run folder, on ``device``
    (``cpu``, ``cuda``, ``auto``) computing in ``dtype`` (None/``auto``: bfloat16 on CUDA and on a CPU with native
    bf16, Intel AMX; else float32; ``worldsim.runtime``).
    ``reward``: None pays dreams with the folder's ``reward.safetensors`` where it has one (else the DiT's reward
    head), False always with the head, a path with that reward model (a file or a ``train-reward`` run folder)."""
    dev = runtime.resolve_device(device)
    dt = runtime.resolve_dtype(dtype, dev)
    p = Path(name_or_path)
    folder = model_folder(name_or_path)
    if (folder / "dit.safetensors").is_file():
        dit_file, vae_file = folder / "dit.safetensors", folder / "vae.safetensors"
    elif (folder / "model.safetensors").is_file():
        dit_file = folder / "model.safetensors"
        vae_file = None
    elif p.is_file():
        dit_file, vae_file = p, None
    else:
        raise FileNotFoundError(f"no world model at {name_or_path!r}: not a shipped name (shipped: "
                                f"{shipped_models() or 'none'}), a world-model folder or a DiT run folder")  # fmt: skip
    config, state, extra = load_model(dit_file, "dit")
    dit = build_dit(config, dit_file)
    load_state_into(dit, state, dit_file)
    named, clips_folder = extra.get("info", {}).get("vae_sha256"), folder
    if vae_file is None:
        vae_file = Path(extra.get("info", {}).get("vae_file", ""))
        if not vae_file.is_file():
            raise CheckpointError(f"{dit_file} names its VAE as {str(vae_file)!r}, which does not exist")
    elif not vae_file.is_file():  # a folder of a DiT alone (a second shipped model): a shipped model's VAE and clips
        if not named:
            raise CheckpointError(f"{folder} has no vae.safetensors, and its DiT names no VAE hash to find one by")
        home = shipped_with_vae(named)
        if home is None:
            raise CheckpointError(f"{folder} has no vae.safetensors, and no shipped model has the VAE its DiT names "
                                  f"(SHA-256 {str(named)[:12]}...)")  # fmt: skip
        vae_file = home / "vae.safetensors"
        if not (folder / "clips.npz").is_file():
            clips_folder = home  # its start clips too: the same world, encoded by the same VAE
    if named and has_content_hash(dit_file):  # (folders exported before hashes re-saved their VAE: not checked)
        from worldsim.data.latents import file_sha256

        if file_sha256(vae_file) != named:
            raise CheckpointError(f"{dit_file} was trained with the VAE of SHA-256 {named[:12]}..., but {vae_file} "
                                  f"is another file ({file_sha256(vae_file)[:12]}...): a DiT dreams only in its "
                                  "own VAE's latents")  # fmt: skip
    vae = load_vae(str(vae_file), dev)
    if tuple(vae.cfg.latent_shape) != tuple(dit.cfg.latent_shape):
        raise CheckpointError(f"{dit_file} dreams latents {tuple(dit.cfg.latent_shape)}, but the VAE {vae_file} "
                              f"makes {tuple(vae.cfg.latent_shape)}")  # fmt: skip
    clips = None
    clips_file = clips_folder / "clips.npz"
    if clips_file.is_file():
        try:
            with np.load(clips_file, allow_pickle=False) as z:
                clips = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{clips_file} is not a readable clips file (truncated?): {exc}") from exc
        if not {"frames", "actions"} <= set(clips) <= {"frames", "actions", "pitch"}:
            raise CheckpointError(f"{clips_file} holds {sorted(clips)}, not frames and actions (and pitch)")
        if "pitch" in clips and clips["pitch"].shape != clips["frames"].shape[:1]:
            raise CheckpointError(f"{clips_file} holds {clips['pitch'].shape} pitches for "
                                  f"{len(clips['frames'])} clips")  # fmt: skip
    sampler_cfg = SamplerConfig(**extra.get("sampler", {}))
    rm, reward_info = None, None
    if reward is not False:
        reward_file = folder / "reward.safetensors" if reward is None else Path(reward)
        if reward_file.is_dir():
            reward_file = reward_file / "model.safetensors"  # a `worldsim train-reward` run folder
        if reward_file.is_file():
            rm, reward_info = attach_reward_model(reward_file, dit, (*vae.cfg.resolution, 3), dev)
        elif reward is not None:
            raise FileNotFoundError(f"no reward model at {reward!r} (a reward.safetensors, or a train-reward run "
                                    "folder)")  # fmt: skip
    return WorldModel(vae, dit.to(dev).eval(), sampler_cfg, int(extra.get("window", sampler_cfg.context + 1)),
                      extra.get("info", {}), clips, dtype=dt, compile=bool(compile), reward_model=rm,
                      reward_info=reward_info, dtype_auto=runtime.is_auto(dtype))  # fmt: skip


def shipped_with_vae(sha256: str | None) -> Path | None:
    """The shipped model folder whose VAE has this SHA-256 (None: none, or no hash given)."""
    if not sha256:
        return None
    from worldsim.data.latents import file_sha256

    for name in shipped_models():
        f = ASSETS / name / "vae.safetensors"
        if f.is_file() and file_sha256(f) == sha256:
            return ASSETS / name
    return None


def attach_reward_model(path, dit: DiT, frame_shape, device) -> tuple[RewardModel, dict]:
    """The reward model at ``path``, checked to read this world model's frames and actions (CheckpointError
    naming the file and what differs)."""
    from worldsim.checkpoint import load_module
    from worldsim.models.actions import space_to_json

    rm, extra = load_module(path, "reward", RewardModelConfig, RewardModel)  # read and verified once
    rm = rm.to(device)
    if tuple(rm.cfg.resolution) != tuple(frame_shape[:2]):
        raise CheckpointError(f"{path} reads frames of {tuple(rm.cfg.resolution)}, but this world model dreams "
                              f"{tuple(frame_shape[:2])}")  # fmt: skip
    if rm.cfg.action_space != space_to_json(dit.action_space):
        raise CheckpointError(f"{path} was trained on actions of {rm.action_space}, but this world model dreams "
                              f"{dit.action_space}")  # fmt: skip
    return rm, extra


def action_space_of(name_or_path: str) -> gym.Space:
    """The action space a world model dreams, read from its DiT checkpoint without building the model."""
    p = Path(name_or_path)
    folder = model_folder(name_or_path)
    f = folder / "dit.safetensors" if (folder / "dit.safetensors").is_file() else folder / "model.safetensors"
    config, _, _ = load_model(f if f.is_file() else p, "dit")
    return space_from_json(config["action_space"])


__all__ = ["WorldModel", "action_space_of", "load_world_model"]
