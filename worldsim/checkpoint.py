"""Checkpoints: safetensors weights with a JSON config in the file's header, versioned; never pickle.

A model file (``*.safetensors``) carries, in its metadata, ``worldsim_format`` (this module's version),
``kind`` (``vae``, ``dit``, ...), ``config`` (the model's dataclass as JSON), ``extra`` (anything else a loader
needs, as JSON) and ``content_sha256``: a hash of the config, the extra and every tensor (name, dtype, shape,
bytes), checked on load, so that flipped bytes or an edited config (``heads``, ``rope_theta``, ...) are refused
rather than dreamed with. Weights must be finite. Files saved before the hash existed load without that check.
A training-state file holds the optimizer's tensors, the step and every RNG state, so that a run resumes exactly.
Writes go to a temporary file that is renamed into place, so an interrupted save never leaves a half-written
checkpoint behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, from another version, or made for something else."""


def _atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _read(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for bad headers and short files
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): {exc}"
        ) from exc
    return tensors, metadata


def content_hash(config_json: str, extra_json: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a model's config, extra and tensors (each by name, dtype, shape and bytes, in name order)."""
    h = hashlib.sha256()
    h.update(config_json.encode())
    h.update(b"\0" + extra_json.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def has_content_hash(path: str | os.PathLike) -> bool:
    """Whether a model file carries a content hash (saved by this worldsim or later)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return "content_sha256" in (f.metadata() or {})


def save_model(path: str | os.PathLike, kind: str, config: Any, state_dict: dict[str, torch.Tensor],
               extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:  # fmt: skip
    """Write a model's weights (optionally cast to ``dtype``, e.g. fp16 for shipping) with its config."""
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in state_dict.items()}
    metadata = {"worldsim_format": str(FORMAT_VERSION), "kind": kind, "config": json.dumps(cfg),
                "extra": json.dumps(extra or {})}  # fmt: skip
    metadata["content_sha256"] = content_hash(metadata["config"], metadata["extra"], tensors)
    path = Path(path)
    _atomic_save(tensors, metadata, path)
    return path


def load_model(path: str | os.PathLike, kind: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """(config dict, float32 state dict, extra dict) of a model file, checked to be a whole ``kind`` checkpoint:
    its content hash, finite weights, and a config and extra that parse (CheckpointError naming what is wrong)."""
    tensors, meta = _read(path)
    if "worldsim_format" not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not a worldsim checkpoint (no worldsim_format)")
    try:
        version = int(meta["worldsim_format"])
    except ValueError:
        raise CheckpointError(f"{path}: worldsim_format {meta['worldsim_format']!r} is not a version number") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} is worldsim checkpoint format {version}; this worldsim reads {FORMAT_VERSION}")
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} model, not a {kind!r}")
    parsed = {}
    for key in ("config", "extra"):
        if key not in meta and key == "config":
            raise CheckpointError(f"{path} has no 'config' in its metadata")
        try:
            parsed[key] = json.loads(meta.get(key, "{}"))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: its {key!r} metadata is not valid JSON ({exc})") from None
        if not isinstance(parsed[key], dict):
            raise CheckpointError(f"{path}: its {key!r} metadata is {type(parsed[key]).__name__}, not an object")
    if (
        "content_sha256" in meta
        and content_hash(meta["config"], meta.get("extra", "{}"), tensors) != meta["content_sha256"]
    ):
        raise CheckpointError(f"{path}: its weights or config changed since it was saved (content hash mismatch): "
                              "corrupt, or edited by hand")  # fmt: skip
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path}: tensor {k!r} holds NaN or inf values")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    return parsed["config"], state, parsed["extra"]


def load_module(path: str | os.PathLike, kind: str, config_cls, module_cls):
    """A ``kind`` model in eval mode from its checkpoint: its config class built from the saved config (a
    CheckpointError naming the file and the field otherwise), its weights loaded. Returns (model, extra)."""
    config, state, extra = load_model(path, kind)
    try:
        cfg = config_cls(**config)
    except (TypeError, ValueError) as exc:
        label = {"vae": "VAE", "dit": "DiT", "idm": "IDM", "reward": "reward model"}.get(kind, kind)
        raise CheckpointError(f"{path}: its {label} config does not fit this worldsim: {exc}") from exc
    model = module_cls(cfg)
    load_state_into(model, state, path)
    return model.eval(), extra


def load_state_into(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """``load_state_dict`` with an error that names the checkpoint and what does not fit."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit this model: {exc}") from exc


# ---------------------------------------------------------------------------------------- training state
def save_train_state(path: str | os.PathLike, step: int, optimizer: torch.optim.Optimizer,
                     data_rng: np.random.Generator, extra_tensors: dict[str, torch.Tensor] | None = None,
                     extra: dict | None = None) -> Path:  # fmt: skip
    """Optimizer tensors, step, and the torch / numpy / python RNG states (plus the data sampler's)."""
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in opt["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    for k, v in (extra_tensors or {}).items():
        tensors[f"extra.{k}"] = v
    meta = {
        "worldsim_format": str(FORMAT_VERSION),
        "kind": "train_state",
        "step": str(int(step)),
        "param_groups": json.dumps(opt["param_groups"]),
        "opt_scalars": json.dumps(scalars),
        "rng.numpy": json.dumps(np.random.get_state()[1].tolist()),  # noqa: NPY002 - the legacy global RNG too
        "rng.numpy_pos": json.dumps(list(np.random.get_state()[2:])),  # noqa: NPY002
        "rng.python": json.dumps(random.getstate(), default=list),
        "rng.data": json.dumps(data_rng.bit_generator.state),
        "extra": json.dumps(extra or {}),
    }
    path = Path(path)
    _atomic_save(tensors, meta, path)
    return path


def load_train_state(path: str | os.PathLike, optimizer: torch.optim.Optimizer,
                     data_rng: np.random.Generator) -> tuple[int, dict[str, torch.Tensor], dict]:  # fmt: skip
    """Restore the optimizer and all RNGs in place; returns (step, extra tensors, extra dict)."""
    tensors, meta = _read(path)
    if meta.get("kind") != "train_state":
        raise CheckpointError(f"{path} is not a worldsim training state")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, st in json.loads(meta["opt_scalars"]).items():
        state.setdefault(int(pid), {}).update(st)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: the optimizer state does not fit this model: {exc}") from exc
    torch.set_rng_state(tensors["rng.torch"])
    pos = json.loads(meta["rng.numpy_pos"])
    legacy = ("MT19937", np.array(json.loads(meta["rng.numpy"]), dtype=np.uint32), *pos)
    np.random.set_state(legacy)  # noqa: NPY002
    py = json.loads(meta["rng.python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    data_rng.bit_generator.state = json.loads(meta["rng.data"])
    extra_tensors = {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
    return int(meta["step"]), extra_tensors, json.loads(meta.get("extra", "{}"))
