"""The latent cache: every frame of a dataset encoded once by the VAE and stored memory-mapped.

The DiT trains on this cache only: it never runs the encoder or touches an image. A cache folder holds
``latents.npy`` (float16, (N, C, h, w), opened memory-mapped), ``index.npz`` (the FrameStore layout: episode
offsets, actions, rewards, terminations) and ``meta.json`` (which dataset and which VAE file, by SHA-256, made it;
the train/eval split). A cache made by another VAE, or for another dataset, is refused rather than mixed.

    worldsim encode vae=runs/vae-voxel dataset_id=worldsim/voxel-mix-v1 out=data/latents/voxel-mix-v1

Encoding runs on ``device`` (a GPU when one is visible) in float32, so a cache made on a GPU matches one made on
a CPU up to rounding. For training on a GPU, ``to_device`` copies a cache (or several, concatenated) into GPU
memory and ``window_batch`` then gathers windows there, with no copy from the host per step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from worldsim.data.dataset import FrameStore, load_frames, open_dataset, split_episodes


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_latent_cache(dataset_id: str, vae: str, out: str, root: str = "data/minari", batch: int = 256,
                       eval_fraction: float = 0.05, split_seed: int = 0, max_episodes: int | None = None,
                       episodes_per_chunk: int = 20, progress: bool = True, device: str = "auto") -> dict:  # fmt: skip
    """Encode every frame of ``dataset_id`` with the VAE ``vae`` (a run folder, checkpoint file or shipped name)
    into the cache folder ``out``."""
    from tqdm import tqdm

    from worldsim.models.vae import load_vae
    from worldsim.models.vae import vae_file as find_vae_file
    from worldsim.runtime import resolve_device, setup_cuda

    vae_file = find_vae_file(vae)
    dev = resolve_device(device)
    setup_cuda()
    vae = load_vae(str(vae_file), dev)  # the name becomes the loaded network
    dataset = open_dataset(dataset_id, root=root)
    ids = np.asarray(dataset.episode_indices)[:max_episodes]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # the layout first (actions, rewards, offsets), episode by episode, then the frames encoded chunk by chunk
    steps = np.array([m["total_steps"] for m in dataset.storage.get_episode_metadata(ids)])
    total = int((steps + 1).sum())
    c, h, w = vae.cfg.latent_shape
    tmp = out / "latents.npy.partial"
    latents = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(total, c, h, w))
    parts, offset = [], 0
    t0 = time.perf_counter()
    bar = tqdm(total=total, unit="frame", desc="encode", disable=not progress)
    for i in range(0, len(ids), episodes_per_chunk):
        store = load_frames(dataset, ids[i : i + episodes_per_chunk], expect_shape=(*vae.cfg.resolution, 3))
        for j in range(0, len(store.frames), batch):
            z = vae.encode(torch.from_numpy(store.frames[j : j + batch]).to(dev)).cpu().numpy()
            latents[offset + j : offset + j + len(z)] = z.astype(np.float16)
            bar.update(len(z))
        parts.append(store)
        offset += len(store.frames)
        store.frames = None  # the images are not kept
    bar.close()
    latents.flush()
    del latents
    tmp.rename(out / "latents.npy")
    starts = np.concatenate([[0], np.cumsum([p.ep_start[-1] for p in parts])])
    index = FrameStore(
        frames=np.empty(0),
        ep_start=np.concatenate([p.ep_start[:-1] + s for p, s in zip(parts, starts[:-1])] + [[starts[-1]]]),
        actions=np.concatenate([p.actions for p in parts]),
        rewards=np.concatenate([p.rewards for p in parts]),
        terminations=np.concatenate([p.terminations for p in parts]),
        episode_ids=ids,
    )
    index.save_index(out / "index.npz")
    train_idx, eval_idx = split_episodes(len(ids), eval_fraction, split_seed)
    meta = {
        "dataset_id": str(dataset_id),
        "env_id": getattr(dataset.spec.env_spec, "id", None),  # the real env the recording played
        "vae_file": str(vae_file),
        "vae_sha256": file_sha256(vae_file),
        "vae_config": dataclasses.asdict(vae.cfg),
        "latent_shape": [c, h, w],
        "frames": total,
        "episodes": len(ids),
        "action_space": _space_json(dataset.action_space),
        "frame_shape": list(dataset.observation_space.shape),
        "train_episodes": train_idx.tolist(),
        "eval_episodes": eval_idx.tolist(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return {"out": str(out), "frames": total, "episodes": len(ids), "seconds": meta["seconds"],
            "frames_per_s": round(total / max(meta["seconds"], 1e-3), 1), "device": str(dev)}  # fmt: skip


def _space_json(space) -> dict:
    from worldsim.models.actions import space_to_json

    return space_to_json(space)


def open_latent_cache(path: str | Path, vae_sha256: str | None = None) -> tuple[FrameStore, dict]:
    """(FrameStore over the memory-mapped latents, meta). With ``vae_sha256``, refuse a cache made by another VAE."""
    path = Path(path)
    if not (path / "meta.json").exists() or not (path / "latents.npy").exists():
        raise FileNotFoundError(f"no latent cache at {path}; build one with `worldsim encode`")
    meta = json.loads((path / "meta.json").read_text())
    if vae_sha256 is not None and meta["vae_sha256"] != vae_sha256:
        raise ValueError(f"the latent cache at {path} was made by another VAE ({meta['vae_file']}); rebuild it")
    latents = np.load(path / "latents.npy", mmap_mode="r")
    return FrameStore.with_index(latents, path / "index.npz"), meta


def concat_stores(stores: list[FrameStore]) -> FrameStore:
    """One FrameStore of several, episodes back to back (the frames are read into memory)."""
    if len(stores) == 1:
        return stores[0]
    offsets = np.cumsum([0] + [len(s.frames) for s in stores])
    return FrameStore(
        frames=np.concatenate([np.asarray(s.frames) for s in stores]),
        ep_start=np.concatenate([s.ep_start[:-1] + o for s, o in zip(stores, offsets)] + [[offsets[-1]]]),
        actions=np.concatenate([s.actions for s in stores]),
        rewards=np.concatenate([s.rewards for s in stores]),
        terminations=np.concatenate([s.terminations for s in stores]),
        episode_ids=np.concatenate([s.episode_ids for s in stores]),
    )


def open_training_caches(latents: str | Path, extra: list, vae_sha256: str) -> tuple[FrameStore, dict, np.ndarray]:
    """The cache ``latents`` with the ``extra`` caches after it, as one store: (store, the first cache's meta, the
    training episodes: the first cache's own training split and every episode of each extra cache)."""
    store, meta = open_latent_cache(latents, vae_sha256=vae_sha256)
    train_eps = np.asarray(meta["train_episodes"])
    if not extra:
        return store, meta, train_eps
    stores = [store]
    for path in extra:
        extra_store, extra_meta = open_latent_cache(path, vae_sha256=vae_sha256)
        for key in ("latent_shape", "action_space"):
            if extra_meta[key] != meta[key]:
                raise ValueError(f"extra_latents {path} has {key} {extra_meta[key]}, but {latents} has {meta[key]}")
        first = sum(s.num_episodes for s in stores)  # the extra cache's episodes follow those before it
        train_eps = np.concatenate([train_eps, first + np.arange(extra_store.num_episodes)])
        stores.append(extra_store)
    return concat_stores(stores), meta, train_eps


def to_device(store: FrameStore, device: torch.device) -> FrameStore:
    """A copy of a latent FrameStore whose frames (float16) and transitions are torch tensors on ``device``:
    ``window_batch`` gathers from it there. Episode offsets stay numpy (window starts are picked on the host)."""

    def put(a, dtype=None):
        return torch.as_tensor(np.asarray(a), dtype=dtype).to(device)

    return FrameStore(frames=put(store.frames, torch.float16), ep_start=store.ep_start, actions=put(store.actions),
                      rewards=put(store.rewards), terminations=put(store.terminations),
                      episode_ids=store.episode_ids)  # fmt: skip


def window_batch(store: FrameStore, starts: np.ndarray, length: int) -> dict[str, torch.Tensor]:
    """Training windows starting at ``starts``: latents (B, T, C, h, w) and per-frame actions, has_action,
    rewards and terminations (B, T), each frame's entry describing the transition that led into it. From a
    store made by ``to_device`` the windows are gathered on its device."""
    if torch.is_tensor(store.frames):
        return _window_batch_on_device(store, starts, length)
    idx = starts[:, None] + np.arange(length)[None]  # (B, T)
    x = torch.from_numpy(np.asarray(store.frames[idx.ravel()], dtype=np.float32)).reshape(
        len(starts), length, *store.frames.shape[1:]
    )
    prev = idx - 1  # the transition into frame j is stored at j - 1
    has = np.ones_like(idx, dtype=bool)
    has[:, 0] = False  # the first frame of a window is conditioned on "no action"
    prev = np.maximum(prev, 0)
    actions = torch.from_numpy(store.actions[prev]) * torch.from_numpy(has[..., None])
    return {
        "latents": x,
        "actions": actions.float(),
        "has_action": torch.from_numpy(has),
        "rewards": torch.from_numpy(store.rewards[prev] * has).float(),
        "terminations": torch.from_numpy(store.terminations[prev] & has),
    }


def _window_batch_on_device(store: FrameStore, starts: np.ndarray, length: int) -> dict[str, torch.Tensor]:
    """``window_batch`` for a store on a device: the same windows, gathered there."""
    dev = store.frames.device
    idx = torch.as_tensor(np.asarray(starts), device=dev)[:, None] + torch.arange(length, device=dev)[None]  # (B, T)
    has = torch.ones(idx.shape, dtype=torch.bool, device=dev)
    has[:, 0] = False  # the first frame of a window is conditioned on "no action"
    prev = (idx - 1).clamp_min(0)  # the transition into frame j is stored at j - 1
    return {
        "latents": store.frames[idx].float(),  # (B, T, C, h, w)
        "actions": store.actions[prev] * has[..., None],
        "has_action": has,
        "rewards": store.rewards[prev] * has,
        "terminations": store.terminations[prev] & has,
    }
