"""Checkpoints: safetensors weights with a JSON config in the file's header, versioned; never pickle.

A model file (``*.safetensors``) carries, in its metadata, ``worldsim_format`` (this module's version),
``kind`` (``vae``, ``dit``, ...), ``config`` (the model's dataclass as JSON) and ``extra`` (anything else a loader
needs, as JSON). A training-state file holds the optimizer's tensors, the step and every RNG state, so that a run
resumes exactly. Writes go to a temporary file that is renamed into place, so an interrupted save never leaves a
half-written checkpoint behind.
"""

from __future__ import annotations

import dataclasses
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


def save_model(path: str | os.PathLike, kind: str, config: Any, state_dict: dict[str, torch.Tensor],
               extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:  # fmt: skip
    """Write a model's weights (optionally cast to ``dtype``, e.g. fp16 for shipping) with its config."""
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in state_dict.items()}
    metadata = {"worldsim_format": str(FORMAT_VERSION), "kind": kind, "config": json.dumps(cfg),
                "extra": json.dumps(extra or {})}  # fmt: skip
    path = Path(path)
    _atomic_save(tensors, metadata, path)
    return path


def load_model(path: str | os.PathLike, kind: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """(config dict, float32 state dict, extra dict) of a model file, checked to be a ``kind`` checkpoint."""
    tensors, meta = _read(path)
    if "worldsim_format" not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not a worldsim checkpoint (no worldsim_format)")
    version = int(meta["worldsim_format"])
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} is worldsim checkpoint format {version}; this worldsim reads {FORMAT_VERSION}")
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} model, not a {kind!r}")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    return json.loads(meta["config"]), state, json.loads(meta.get("extra", "{}"))


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
