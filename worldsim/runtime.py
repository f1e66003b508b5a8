"""Where and in what precision a model runs: the ``device``, ``dtype`` and ``compile`` settings, as nanoGPT
threads them through its scripts in a few lines.

    device = resolve_device("auto")           # cuda if one is visible, else cpu (or "cpu", "cuda", "cuda:1")
    dtype = resolve_dtype("auto", device)     # bfloat16 on CUDA, float32 on CPU (this project's CPUs run bf16
                                              # matmuls ~3x slower than fp32)
    with autocast(device, dtype):              # mixed precision where dtype is not float32, else a no-op
        ...

Weights stay float32 (training keeps fp32 master weights; autocast runs the matmuls in bf16); what a model keeps
between calls (the sampler's KV cache) is held in ``dtype``. Every command uses this same path on CPU and CUDA, so
the CPU test suite covers it; autocast on a CPU is allowed (the tests use it to check correctness) but never the
default there.
"""

from __future__ import annotations

import contextlib
import os

import torch

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}  # fmt: skip


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None): ``cuda`` when a GPU is visible, else ``cpu``; under torchrun ``cuda`` means this rank's
    GPU (``LOCAL_RANK``). A CUDA device asked for where there is none is a clear error."""
    if isinstance(device, torch.device):
        dev = device
    else:
        name = "auto" if device is None else str(device)
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asks for a GPU, but torch sees none (torch {torch.__version__})")
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    elif dev.type != "cpu":
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``auto`` (or None): bfloat16 on CUDA, float32 elsewhere; or float32 / bfloat16 / float16 by name."""
    if isinstance(dtype, torch.dtype):
        out = dtype
    elif dtype is None or dtype == "auto":
        out = torch.bfloat16 if device.type == "cuda" else torch.float32
    elif str(dtype) in DTYPES:
        out = DTYPES[str(dtype)]
    else:
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    if out not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {out}")
    return out


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision for ``dtype`` on ``device``, or a no-op context for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def setup_cuda() -> None:
    """The usual fast settings for CUDA runs (TF32 matmuls where fp32 remains)."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


__all__ = ["autocast", "dtype_name", "resolve_device", "resolve_dtype", "setup_cuda"]
