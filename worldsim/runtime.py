"""Where and in what precision a model runs: the ``device``, ``dtype`` and ``compile`` settings, as nanoGPT
threads them through its scripts in a few lines.

    device = resolve_device("auto")           # cuda if one is visible, else cpu (or "cpu", "cuda", "cuda:1")
    dtype = resolve_dtype("auto", device)     # bfloat16 on CUDA, and for dreams on a CPU with native bf16
                                              # (Intel AMX); else float32
    with autocast(device, dtype):              # mixed precision where dtype is not float32, else a no-op
        ...

Weights stay float32 (training keeps fp32 master weights; autocast runs the matmuls in bf16); what a model keeps
between calls (the sampler's KV cache) is held in ``dtype``. Every command uses this same path on CPU and CUDA, so
the CPU test suite covers it.

On a CPU, ``auto`` dreams in bfloat16 only where the CPU computes it natively (Intel AMX tiles: oneDNN's bf16
matmuls and convolutions then run 2-6x faster than float32 on this project's machine) and only for calls on
``CPU_BF16_MIN_BATCH`` or more items (a vector env's dreams, a batch of frames to decode); a single dream's
matrices are too small to gain, and it stays float32. Without AMX bf16 is emulated and ~3x slower: ``auto`` stays
float32. Training on a CPU stays float32 under ``auto`` (``training=True``: the CPU recipes were all measured in
float32). An explicit ``dtype`` holds whatever the batch.
"""

from __future__ import annotations

import contextlib
import functools
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


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products in hardware (Intel AMX tiles), where oneDNN's bf16
    kernels beat float32; elsewhere a CPU emulates bf16, slower than float32. Read from PyTorch's CPU probe, or
    from /proc/cpuinfo's ``amx_bf16`` flag where that probe is missing."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if probe is not None:
        try:
            return bool(probe())
        except RuntimeError:
            pass
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " amx_bf16" in line for line in f)
    except OSError:
        return False


CPU_BF16_MIN_BATCH = 8  # below it a CPU's bf16 kernels do not pay (dream frames/s over float32 here, sampler and
# decode, session 27: batch 1 0.7-1.1x, 4 0.9-1.0x, 8 1.05-1.2x, 16 1.15-1.5x, 32 1.3-1.6x)


def is_auto(dtype) -> bool:
    """Whether a ``dtype`` setting leaves the choice to ``resolve_dtype`` (None or ``"auto"``)."""
    return dtype is None or (isinstance(dtype, str) and dtype == "auto")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device, training: bool = False,
                  batch: int | None = None) -> torch.dtype:  # fmt: skip
    """``auto`` (or None): bfloat16 on CUDA; on a CPU bfloat16 where it is native (``cpu_has_native_bf16``), this
    is not ``training`` and ``batch`` (the items one call computes; None: many) is at least ``CPU_BF16_MIN_BATCH``,
    else float32. Or float32 / bfloat16 / float16 by name, whatever the batch."""
    if isinstance(dtype, torch.dtype):
        out = dtype
    elif is_auto(dtype):
        big = batch is None or batch >= CPU_BF16_MIN_BATCH
        fast = device.type == "cuda" or (not training and big and cpu_has_native_bf16())
        out = torch.bfloat16 if fast else torch.float32
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


__all__ = [
    "CPU_BF16_MIN_BATCH",
    "autocast",
    "cpu_has_native_bf16",
    "dtype_name",
    "is_auto",
    "resolve_device",
    "resolve_dtype",
    "setup_cuda",
]


def init_distributed(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, this process's device); initialises the process group when launched by torchrun
    (nccl between GPUs, gloo between CPU processes)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return (torch.distributed.get_rank() if world > 1 else 0), world, dev
