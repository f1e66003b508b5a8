"""Recorded episodes: opening Minari datasets, checking them, and laying them out flat for training.

A ``FrameStore`` holds every frame of a set of episodes back to back (``frames[ep_start[e]:ep_start[e+1]]`` is
episode e), with the transition that follows each frame beside it: ``actions[j]``, ``rewards[j]`` and
``terminations[j]`` belong to the step from frame j to frame j+1 (the last frame of an episode has padding there).
The same layout serves images (uint8 (N, H, W, 3)) and latents ((N, C, h, w), memory-mapped).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np


def dataset_path(dataset_id: str, root: str | os.PathLike = "data/minari") -> Path:
    return Path(root) / dataset_id


def image_observation_space(space: gym.Space) -> bool:
    """Whether observations are RGB images: uint8 Box of shape (H, W, 3)."""
    return (
        isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[-1] == 3
    )


def open_dataset(id_or_path: str | os.PathLike, root: str | os.PathLike = "data/minari"):
    """A ``minari.MinariDataset`` from a dataset id (under ``root``) or a dataset folder, with clear errors."""
    import minari

    path = Path(id_or_path)
    if not (path / "data" / "metadata.json").exists():
        path = dataset_path(str(id_or_path), root)
    meta = path / "data" / "metadata.json"
    if not meta.exists():
        raise FileNotFoundError(f"no Minari dataset at {path} (looked for {meta}); record one with `worldsim record`")
    try:
        json.loads(meta.read_text())
    except (json.JSONDecodeError, OSError):  # a recorder killed while Minari rewrote it: rebuild it (data/guard.py)
        from worldsim.data import guard

        try:
            for line in guard.repair_unless_recording(path):
                print(f"worldsim: {path}: {line}", file=sys.stderr, flush=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ValueError(f"the Minari dataset at {path} is corrupt or unreadable: {exc}") from exc
        if not meta.exists():
            raise FileNotFoundError(
                f"no Minari dataset at {path}: it held nothing whole ({meta} gone after repair)"
            ) from None
    try:
        json.loads(meta.read_text())
        # an absolute path: minari sizes a dataset it adds to by walking its folder, and doubles a relative one
        return minari.MinariDataset((path / "data").absolute())
    except (json.JSONDecodeError, KeyError, ValueError, OSError) as exc:
        raise ValueError(
            f"the Minari dataset at {path} is corrupt or unreadable ({type(exc).__name__}: {exc})"
        ) from exc


def check_compatible(dataset, observation_space: gym.Space, action_space: gym.Space, what: str = "dataset") -> None:
    """Raise ValueError naming the mismatch if ``dataset``'s spaces differ from the given ones."""
    if dataset.observation_space != observation_space:
        raise ValueError(f"{what} holds observations {dataset.observation_space}, but {observation_space} was expected")
    if dataset.action_space != action_space:
        raise ValueError(f"{what} holds actions {dataset.action_space}, but {action_space} was expected")


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 frames (T, H, W, 3) to (T, h, w, 3): block means for whole-number shrink factors, else
    PIL's area-aware bilinear filter."""
    t, h, w, _ = frames.shape
    nh, nw = size
    if (h, w) == (nh, nw):
        return frames
    if h % nh == 0 and w % nw == 0:
        fh, fw = h // nh, w // nw
        pooled = frames.reshape(t, nh, fh, nw, fw, 3).mean(axis=(2, 4))
        return np.round(pooled).astype(np.uint8)
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((nw, nh), Image.BILINEAR)) for f in frames])


MIN_HELD_OUT = 3  # held-out episodes a split keeps wherever the recording has four times as many


def split_episodes(n_episodes: int, eval_fraction: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) episode indices: a fixed random split by episode (same seed, same split). At least one eval
    episode whenever there are two or more, and at least ``MIN_HELD_OUT`` where that leaves three quarters to train
    (5% of a small recording would be one episode: too few to evaluate on)."""
    if n_episodes < 1:
        raise ValueError("the dataset has no episodes")
    order = np.random.default_rng(seed).permutation(n_episodes)
    n_eval = 0 if n_episodes < 2 else max(1, min(MIN_HELD_OUT, n_episodes // 4), round(eval_fraction * n_episodes))
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def flat_actions(actions: np.ndarray, space: gym.Space) -> np.ndarray:
    """Actions (T, ...) as a 2-D float32 array (T, A), whatever the action space."""
    a = np.asarray(actions)
    if isinstance(space, gym.spaces.Discrete):
        return a.reshape(len(a), 1).astype(np.float32)
    return a.reshape(len(a), -1).astype(np.float32)


@dataclass
class FrameStore:
    """Episodes back to back; see the module docstring for the layout."""

    frames: np.ndarray  # (N, ...) uint8 images or float latents
    ep_start: np.ndarray  # (E + 1,) int64 offsets into frames
    actions: np.ndarray  # (N, A) float32: the action taken after frame j (0 padding after an episode's last)
    rewards: np.ndarray  # (N,) float32: reward of the step after frame j
    terminations: np.ndarray  # (N,) bool: that step terminated the episode
    episode_ids: np.ndarray  # (E,) int64: the dataset's episode ids

    @property
    def num_episodes(self) -> int:
        return len(self.ep_start) - 1

    def window_starts(self, length: int) -> np.ndarray:
        """Every j such that frames j .. j+length-1 lie in one episode."""
        if length < 1:
            raise ValueError(f"window length must be at least 1, got {length}")
        starts = [
            np.arange(s, e - length + 1) for s, e in zip(self.ep_start[:-1], self.ep_start[1:]) if e - s >= length
        ]
        if not starts:
            raise ValueError(f"no episode has {length} frames; the longest has {np.diff(self.ep_start).max()}")
        return np.concatenate(starts)

    def window(self, start: int, length: int) -> dict[str, np.ndarray]:
        """Frames start .. start+length-1 and the length-1 transitions between them."""
        sl = slice(start, start + length)
        return {
            "frames": np.asarray(self.frames[sl]),
            "actions": self.actions[start : start + length - 1],
            "rewards": self.rewards[start : start + length - 1],
            "terminations": self.terminations[start : start + length - 1],
        }

    def save_index(self, path: str | os.PathLike) -> None:
        np.savez(path, ep_start=self.ep_start, actions=self.actions, rewards=self.rewards,
                 terminations=self.terminations, episode_ids=self.episode_ids)  # fmt: skip

    @classmethod
    def with_index(cls, frames: np.ndarray, path: str | os.PathLike) -> FrameStore:
        with np.load(path) as z:
            store = cls(frames, z["ep_start"], z["actions"], z["rewards"], z["terminations"], z["episode_ids"])
        if store.ep_start[-1] != len(frames):
            raise ValueError(f"index {path} describes {store.ep_start[-1]} frames but the array holds {len(frames)}")
        return store


def load_frames(dataset, episode_ids=None, expect_shape: tuple[int, int, int] | None = None) -> FrameStore:
    """Read episodes of a Minari dataset into a FrameStore of uint8 frames.

    ``expect_shape``: the (H, W, 3) a model needs; a dataset of another shape is refused with a clear error.
    """
    if not image_observation_space(dataset.observation_space):
        raise ValueError(f"the dataset's observations are not RGB images: {dataset.observation_space}")
    shape = tuple(dataset.observation_space.shape)
    if expect_shape is not None and shape != tuple(expect_shape):
        raise ValueError(
            f"the dataset holds frames of shape {shape}, but the model needs {tuple(expect_shape)}; "
            "record at that size (resize=[H,W]) or configure the model for this one"
        )
    ids = np.asarray(dataset.episode_indices if episode_ids is None else episode_ids, dtype=np.int64)
    frames, actions, rewards, terms, starts = [], [], [], [], [0]
    for ep in dataset.iterate_episodes(ids):
        obs = np.asarray(ep.observations, dtype=np.uint8)
        t = len(ep.rewards)
        if obs.shape[0] != t + 1:
            raise ValueError(f"episode {ep.id} has {obs.shape[0]} frames for {t} steps (expected {t + 1})")
        a = flat_actions(ep.actions, dataset.action_space)
        frames.append(obs)
        actions.append(np.concatenate([a, np.zeros((1, a.shape[1]), np.float32)]))
        rewards.append(np.concatenate([np.asarray(ep.rewards, np.float32), [0.0]]))
        terms.append(np.concatenate([np.asarray(ep.terminations, bool), [False]]))
        starts.append(starts[-1] + t + 1)
    return FrameStore(
        frames=np.concatenate(frames),
        ep_start=np.asarray(starts, dtype=np.int64),
        actions=np.concatenate(actions).astype(np.float32),
        rewards=np.concatenate(rewards).astype(np.float32),
        terminations=np.concatenate(terms),
        episode_ids=ids,
    )


def load_held_out(
    dataset_id: str,
    root: str | os.PathLike,
    eval_fraction: float,
    split_seed: int,
    expect_shape: tuple[int, int, int] | None = None,
    policy: str | None = None,
) -> FrameStore:
    """The held-out episodes of a dataset (the split every training and evaluation step uses), as frames; with
    ``policy``, only those that `worldsim record` played with that policy (episode metadata ``policy``)."""
    dataset = open_dataset(dataset_id, root=root)
    ids = np.asarray(dataset.episode_indices)
    _, eval_idx = split_episodes(len(ids), eval_fraction, split_seed)
    if len(eval_idx) == 0:
        raise ValueError(f"dataset {dataset_id} has no held-out episode")
    chosen = ids[eval_idx]
    if policy is not None:
        metas = dataset.storage.get_episode_metadata(chosen.tolist())
        played = [m.get("policy") for m in metas]
        chosen = chosen[[p == policy for p in played]]
        if len(chosen) == 0:
            raise ValueError(
                f"no held-out episode of {dataset_id} was played by policy {policy!r} "
                f"(held-out policies: {sorted({str(p) for p in played})})"
            )
    return load_frames(dataset, chosen, expect_shape=expect_shape)


def pick_clips(store, length: int, count: int, seed: int) -> np.ndarray:
    """Start indices of ``count`` windows of ``length`` frames inside episodes, spread over the episodes."""
    starts = store.window_starts(length)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(starts, size=min(count, len(starts)), replace=False))
