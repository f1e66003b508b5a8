"""The recorder's worker processes: each plays episodes of the recipe in a Gymnasium vector env, with the
recipe's policies, renders them into shared frame buffers and sends each finished episode to the writing process
(`worldsim.data.record`)."""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from worldsim.data.dataset import image_observation_space, resize_frames

if TYPE_CHECKING:
    from worldsim.data.record import RecordConfig


def make_recording_env(env_id: str, env_kwargs: dict | None = None, max_episode_steps: int | None = None):
    """``gym.make`` with image observations: the env's own, or its ``rgb_array`` render where they are not images."""
    kwargs = dict(env_kwargs or {})
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    env = gym.make(env_id, **kwargs)
    if image_observation_space(env.observation_space):
        return env
    env.close()
    from worldsim.envs import resolve_env_id

    spec_modes = gym.spec(resolve_env_id(env_id)).kwargs.get("render_modes") or []
    modes = getattr(env.unwrapped, "metadata", {}).get("render_modes", []) or spec_modes
    if "rgb_array" not in modes:
        raise ValueError(
            f"cannot record {env_id}: its observations are not images ({env.observation_space}) "
            f"and it has no 'rgb_array' render mode (render modes: {modes})"
        )
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    return gym.wrappers.AddRenderObservation(env, render_only=True)


class _StashInfo(gym.Wrapper):
    """Keeps each step's info on the side (``last_info``) and hands the vector env an empty one: the vector env's
    key-by-key batching of infos would be the recorder's largest cost, and the recorder reads them here instead."""

    last_info: dict = {}

    def reset(self, **kwargs):
        obs, self.last_info = self.env.reset(**kwargs)
        return obs, {}

    def step(self, action):
        obs, reward, terminated, truncated, self.last_info = self.env.step(action)
        return obs, reward, terminated, truncated, {}


class _BatchInfo(Mapping):
    """The envs' current infos in vector-env layout, built key by key only when a policy asks for one."""

    def __init__(self, stashes: list[_StashInfo]):
        self.stashes = stashes

    def __getitem__(self, key):
        return np.asarray([s.last_info[key] for s in self.stashes])

    def __contains__(self, key):  # without building the array, as Mapping's default would
        return key in self.stashes[0].last_info

    def __iter__(self):
        return iter(self.stashes[0].last_info)

    def __len__(self):
        return len(self.stashes[0].last_info)


def _numeric(value) -> bool:
    v = np.asarray(value)
    return v.dtype.kind in "biuf"


class _Slot:
    """The episode one env of a worker is recording: frames in a reused buffer, the rest in lists."""

    def __init__(self, job: tuple | None, buffer: tuple[int, np.ndarray], first_obs: np.ndarray, first_info: dict):
        self.index, self.seed, self.policy = job if job is not None else (None, None, None)
        self.buffer_id, self.frames = buffer
        self.shared = True  # the frames are still in the shared buffer (False once an endless episode outgrew it)
        self.n = 0  # frames so far
        self.actions, self.rewards, self.terms, self.truncs, self.infos = [], [], [], [], []
        self.add_frame(first_obs, first_info)

    def add_frame(self, frame: np.ndarray, info: dict) -> None:
        if self.n == len(self.frames):  # an env without a step limit: grow
            self.frames = np.concatenate([self.frames, np.empty_like(self.frames)])
            self.shared = False
        self.frames[self.n] = frame
        self.n += 1
        self.infos.append(info)

    def add_step(self, action, reward, terminated, truncated) -> None:
        self.actions.append(action)
        self.rewards.append(float(reward))
        self.terms.append(bool(terminated))
        self.truncs.append(bool(truncated))

    def episode(self, resize, pool) -> dict[str, Any]:
        """The finished episode as a message for the writer: the frames stay in the shared buffer (the message
        names it) unless they were resized, outgrew it, or there is no shared pool; then they travel in the
        message and ``buffer`` is None (the worker keeps the buffer)."""
        frames, buffer = self.frames[: self.n], None
        if resize is not None:
            frames = resize_frames(frames, tuple(resize))
        elif self.shared and pool is not None:
            frames, buffer = None, self.buffer_id
        else:
            frames = frames.copy()
        infos = {}
        for key, value in self.infos[0].items():  # numeric keys of one shape all episode long
            if not _numeric(value):
                continue
            try:
                infos[key] = np.stack([d[key] for d in self.infos])
            except (KeyError, ValueError):  # a key that comes and goes, or changes shape: not recorded
                continue
        return {
            "index": self.index,
            "buffer": buffer,
            "frames": self.n,
            "seed": self.seed,
            "policy": self.policy,
            "observations": frames,
            "actions": np.stack(self.actions),
            "rewards": np.asarray(self.rewards, dtype=np.float64),
            "terminations": np.asarray(self.terms, dtype=bool),
            "truncations": np.asarray(self.truncs, dtype=bool),
            "infos": infos,
        }


class _FramePool:
    """Frame buffers in anonymous shared memory, mapped before the workers fork so that parent and workers see the
    same pages: worker ``r`` owns buffers ``r * per, ..., r * per + per - 1``; it renders episodes into them, and the
    writer hands each back through the worker's ``free`` queue once the episode is on disk."""

    def __init__(self, ctx, workers: int, per_worker: int, frames: int, frame_shape: tuple):
        self.per = per_worker
        count = workers * per_worker
        self._map = mmap.mmap(-1, max(count * frames * int(np.prod(frame_shape)), 1))
        self.buffers = np.frombuffer(self._map, np.uint8).reshape(count, frames, *frame_shape)
        self.free = [ctx.Queue() for _ in range(workers)]

    def owned(self, rank: int) -> list[int]:
        return list(range(rank * self.per, (rank + 1) * self.per))

    def release(self, buffer_id: int) -> None:
        self.free[buffer_id // self.per].put(buffer_id)


def _next_job(counter, plan: list):
    """The next episode of the recipe nobody has taken yet (shared by all workers), or None."""
    with counter.get_lock():
        j = counter.value
        if j >= len(plan):
            return None
        counter.value = j + 1
    return plan[j]


def _worker(rank: int, cfg: RecordConfig, plan: list, counter, pool, out: mp.Queue, stop: mp.Event) -> None:
    """``_play`` that reports its failure: an exception goes on ``out`` as ``{"error": traceback}`` first."""
    try:
        _play(rank, cfg, plan, counter, pool, out, stop)
    except BaseException:
        import traceback

        out.put({"error": traceback.format_exc(), "rank": rank})
        raise


def runs_torch(policies) -> bool:
    """Whether any of these policy names runs torch (a stable-baselines3 ``.zip``, bare or wrapped)."""
    return any(str(name).endswith(".zip") for name in policies)


def _play(rank: int, cfg: RecordConfig, plan: list, counter, pool, out: mp.Queue, stop: mp.Event) -> None:
    """Record episodes of ``plan`` taken from ``counter`` and put each finished one on ``out``; last, a
    ``{"done": True, ...}`` message with the seconds it ran and spent in the env and in the policies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    t_start = time.perf_counter()
    clock = {"env": 0.0, "policy": 0.0}  # seconds inside the env (step and reset) and the policies
    import worldsim  # noqa: F401  (registers env ids in this process)
    from worldsim.policies import make_policy

    k = max(1, min(cfg.envs_per_process, len(plan)))
    envs = gym.vector.SyncVectorEnv(
        [lambda: _StashInfo(make_recording_env(cfg.env_id, cfg.env_kwargs, cfg.max_episode_steps)) for _ in range(k)],
        autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        copy=False,  # frames are copied into each episode's buffer at once
    )
    stashes = envs.envs
    space = envs.single_action_space
    spec = stashes[0].spec
    limit = cfg.max_episode_steps or (spec.max_episode_steps if spec else None) or 1000
    if pool is not None:
        free = pool.owned(rank)
        buffers = pool.buffers
    else:  # no shared memory (spawned workers): private buffers, frames travel in the messages
        free = list(range(k))
        buffers = [np.empty((limit + 1, *envs.single_observation_space.shape), np.uint8) for _ in range(k)]

    parent = os.getppid()
    scratch: list[np.ndarray] = []  # frames of an env with no episode left to play (stepped, never kept)

    def take_buffer(job) -> tuple[int, np.ndarray] | None:
        if job is None:
            if not scratch:
                scratch.append(np.empty((limit + 1, *envs.single_observation_space.shape), np.uint8))
            return -1, scratch[0]
        while not free:  # every buffer is with the writer: wait until it hands one back
            if stop.is_set() or os.getppid() != parent:
                return None
            try:
                free.append(pool.free[rank].get(timeout=0.2))
            except queue.Empty:
                continue
        b = free.pop()
        return b, buffers[b]

    policies = {n: make_policy(n, space, k, seed=cfg.seed * 7919 + rank) for n in {p for _, _, p in plan}}
    if runs_torch(policies):  # torch policies: one thread each, the workers share the cores
        import torch

        torch.set_num_threads(1)
    jobs = [_next_job(counter, plan) for _ in range(k)]
    t = time.perf_counter()
    obs, _ = envs.reset(seed=[j[1] if j else None for j in jobs])
    clock["env"] += time.perf_counter() - t
    seeds = [j[1] if j else None for j in jobs]
    for p in policies.values():
        p.reset(None, seeds)  # each episode's policy randomness follows from its seed
    slots = [_Slot(jobs[i], take_buffer(jobs[i]), obs[i], stashes[i].last_info) for i in range(k)]
    batch_info = _BatchInfo(stashes)
    steps = 0

    def who_plays() -> dict[str, np.ndarray]:  # policy name -> the envs it plays (changes only at resets)
        masks = {n: np.array([s.policy == n for s in slots]) for n in policies}
        return {n: m for n, m in masks.items() if m.any()}

    users = who_plays()
    while any(s.index is not None for s in slots) and not stop.is_set():
        steps += 1
        if steps % 64 == 0 and os.getppid() != parent:  # the recorder was killed: do not run on as an orphan
            out.cancel_join_thread()  # nobody reads the queue any more; exit without waiting on it
            envs.close()
            return
        t = time.perf_counter()
        proposals = [(users[n], policies[n].act(obs, batch_info, users[n])) for n in users]
        if len(proposals) == 1 and proposals[0][0].all():  # one policy plays every env
            actions = proposals[0][1]
        else:
            actions = np.stack([space.sample() for _ in slots])  # envs with no episode left: anything
            for mask, proposal in proposals:
                actions[mask] = proposal[mask]
        t2 = time.perf_counter()
        obs, rewards, terms, truncs, _ = envs.step(actions)
        clock["env"] += time.perf_counter() - t2
        clock["policy"] += t2 - t
        done = np.logical_or(terms, truncs)
        for i, slot in enumerate(slots):
            slot.add_step(actions[i], rewards[i], terms[i], truncs[i])
            slot.add_frame(obs[i], stashes[i].last_info)
        if not done.any():
            continue
        seeds = [None] * k
        for i in np.flatnonzero(done):
            slot = slots[i]
            if slot.index is not None:
                episode = slot.episode(cfg.resize, pool)
                out.put(episode)
                if episode["buffer"] is None:  # the frames went in the message: the buffer is still ours
                    free.append(slot.buffer_id)
            jobs[i] = _next_job(counter, plan)
            seeds[i] = jobs[i][1] if jobs[i] else None
        t = time.perf_counter()
        obs, _ = envs.reset(seed=seeds, options={"reset_mask": done})
        clock["env"] += time.perf_counter() - t
        for p in policies.values():
            p.reset(done, seeds)
        for i in np.flatnonzero(done):
            buffer = take_buffer(jobs[i])  # None: told to stop (or orphaned) while waiting for a buffer
            slots[i] = _Slot(jobs[i], buffer, obs[i], stashes[i].last_info) if buffer is not None else None
        if any(s is None for s in slots):
            if os.getppid() != parent:
                out.cancel_join_thread()
                envs.close()
                return
            break
        users = who_plays()
    envs.close()
    out.put({"done": True, "seconds": time.perf_counter() - t_start, **clock})  # where this worker's time went
