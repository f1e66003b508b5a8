"""Models shipped inside the package (fp16 safetensors), found by name: ``load_vae("voxel")``."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent
FILES = {"vae": "vae.safetensors", "dit": "dit.safetensors"}


def shipped_models() -> list[str]:
    """Names of the models shipped with this install."""
    return sorted(p.name for p in ASSETS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def model_folder(name_or_path: str) -> Path:
    """The folder of a world model: a shipped model's by name, else the path as given."""
    shipped = ASSETS / str(name_or_path)
    return shipped if shipped.is_dir() else Path(name_or_path)


def resolve_model_file(name_or_path: str, kind: str) -> Path:
    """The checkpoint file for a shipped model name, a run folder (``<dir>/model.safetensors`` or
    ``<dir>/<kind>.safetensors``), or a file path; FileNotFoundError naming what was tried."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    candidates = [ASSETS / str(name_or_path) / FILES[kind], p / FILES[kind], p / "model.safetensors"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"no {kind} checkpoint for {name_or_path!r}: not a file, a run folder or a shipped model "
        f"(shipped: {shipped_models() or 'none'})"
    )
