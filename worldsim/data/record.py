"""`worldsim record`: play any pixel Gymnasium env with policies and write the episodes as a Minari dataset.

    worldsim record                                    # the default voxel recipe (configs/record.yaml)
    worldsim record episodes=20 processes=2 dataset_id=worldsim/voxel-test-v0
    worldsim record env_id=CartPole-v1 resize=[64,64] policies={random:1.0} dataset_id=cartpole/random-v0

Each of ``processes`` worker processes steps a Gymnasium vector env of ``envs_per_process`` envs with batched
policies; whenever one of its envs finishes an episode it takes the next episode of the recipe from a shared
counter (so no process idles while another still has a queue) and sends the finished one to this process, which
appends episodes to the dataset a few at a time. Frames travel through shared memory: each env renders straight
into a frame buffer that this process reads and hands back, so an episode's frames are never pickled or piped.
Frames are stored losslessly (uint8, no JPEG). Episode ``e`` of a recipe always gets seed ``seed + e``, a policy
drawn from the mix by that seed, and the policy's randomness seeded by it too, so a recipe is reproducible
whichever process plays which episode, and an interrupted recording resumes where it stopped: run
the same command again and the episodes already on disk are skipped. Ctrl-C (or SIGTERM) loses only the episodes
in flight; the dataset on disk stays loadable with every completed episode.
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pyarrow as pa

from worldsim.data.dataset import check_compatible, dataset_path, image_observation_space, open_dataset, resize_frames

MAX_SHARED_BYTES = 2 << 30  # frame buffers in shared memory up to this size; beyond it frames are piped


@dataclass
class RecordConfig:
    env_id: str = "worldsim/Voxel-v0"  # any registered Gymnasium env with image observations or rgb_array render
    env_kwargs: dict = field(default_factory=dict)  # passed to gymnasium.make
    dataset_id: str = "worldsim/voxel-mix-v1"  # Minari dataset id (namespace/name-vN)
    root: str = "data/minari"  # where datasets live (MINARI_DATASETS_PATH)
    episodes: int = 300  # episodes in the recipe (existing ones are kept and skipped)
    max_episode_steps: int | None = None  # cap per episode (None: the env's registered limit)
    policies: dict = field(default_factory=lambda: {"explorer": 0.8, "random": 0.2})  # name or SB3 .zip -> weight
    processes: int = 2  # worker processes
    envs_per_process: int = 1  # envs in each worker's vector env (1: measured fastest, see the README)
    seed: int = 0  # episode e is seeded with seed + e
    resize: list | None = None  # [height, width] to store frames at, or None for the env's size
    data_format: str = "arrow"  # Minari storage: arrow (fast, uncompressed), parquet (compressed, slower) or hdf5
    flush_every: int = 4  # episodes per append to the dataset
    progress: bool = True  # tqdm bar with frames/s and ETA


def episode_plan(cfg: RecordConfig) -> list[tuple[int, int, str]]:
    """(episode index, seed, policy) of every episode of the recipe: fixed by ``seed``, independent of timing."""
    names = list(cfg.policies)
    weights = np.array([float(cfg.policies[n]) for n in names])
    if not names or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"policies must map policy names to non-negative weights, got {dict(cfg.policies)}")
    weights = weights / weights.sum()
    plan = []
    for e in range(cfg.episodes):
        u = np.random.default_rng([cfg.seed, e]).random()
        plan.append((e, cfg.seed + e, names[int(np.searchsorted(np.cumsum(weights), u, side="right"))]))
    return plan


def make_recording_env(env_id: str, env_kwargs: dict | None = None, max_episode_steps: int | None = None):
    """``gym.make`` with image observations: the env's own, or its ``rgb_array`` render where they are not images."""
    kwargs = dict(env_kwargs or {})
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    env = gym.make(env_id, **kwargs)
    if image_observation_space(env.observation_space):
        return env
    env.close()
    spec_modes = gym.spec(env_id).kwargs.get("render_modes") or []
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
    """Record episodes of ``plan`` taken from ``counter`` and put each finished one on ``out``; None when done."""
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


class _Writer:
    """Appends finished episodes to a Minari dataset (creating it on the first write)."""

    def __init__(self, cfg: RecordConfig, observation_space: gym.Space, action_space: gym.Space):
        self.cfg, self.obs_space, self.action_space = cfg, observation_space, action_space
        self.dataset = (
            open_dataset(cfg.dataset_id, root=cfg.root) if dataset_path(cfg.dataset_id, cfg.root).exists() else None
        )

    def write(self, episodes: list[dict]) -> None:
        import minari
        from minari.data_collector.episode_buffer import EpisodeBuffer

        if not episodes:
            return
        buffers = [
            EpisodeBuffer(
                seed=int(ep["seed"]),
                observations=ep["observations"],
                actions=ep["actions"],
                rewards=list(ep["rewards"]),
                terminations=list(ep["terminations"]),
                truncations=list(ep["truncations"]),
                infos={k: (v.tolist() if v.ndim == 1 else v) for k, v in ep["infos"].items()},
            )
            for ep in episodes
        ]
        if self.dataset is None:
            self.dataset = minari.create_dataset_from_buffers(
                self.cfg.dataset_id,
                buffers,
                env=gym.spec(self.cfg.env_id),
                eval_env=gym.spec(self.cfg.env_id),
                author="worldsim record",
                author_email="-",
                code_permalink="worldsim/data/record.py",
                observation_space=self.obs_space,
                action_space=self.action_space,
                algorithm_name="worldsim record: " + ", ".join(f"{k}={v}" for k, v in self.cfg.policies.items()),
                description=f"Play of {self.cfg.env_id} recorded by worldsim (lossless uint8 frames).",
                data_format=self.cfg.data_format,
                jpeg_encoding=False,
            )
            first = 0
        else:
            first = self.dataset.storage.total_episodes
            self.dataset.update_dataset_from_buffer(buffers)
        ids = range(first, first + len(episodes))
        self.dataset.storage.update_episode_metadata(
            [{"policy": ep["policy"], "recipe_index": int(ep["index"])} for ep in episodes], ids
        )


def record(cfg: RecordConfig) -> dict:
    """Record the recipe ``cfg``; returns a summary (episodes, frames, frames/s, dataset path)."""
    from minari.dataset.minari_dataset import parse_dataset_id

    parse_dataset_id(cfg.dataset_id)  # a malformed id fails here, before anything is recorded
    root = Path(cfg.root).absolute()
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    import worldsim  # noqa: F401

    probe = make_recording_env(cfg.env_id, cfg.env_kwargs, cfg.max_episode_steps)
    obs_space = env_obs_space = probe.observation_space
    if cfg.resize is not None:
        h, w = (int(x) for x in cfg.resize)
        obs_space = gym.spaces.Box(0, 255, (h, w, 3), np.uint8)
    action_space = probe.action_space
    probe.close()

    writer = _Writer(cfg, obs_space, action_space)
    done_seeds: set[int] = set()
    if writer.dataset is not None:
        check_compatible(writer.dataset, obs_space, action_space, what=f"dataset {cfg.dataset_id}")
        done_seeds = {
            int(m.get("seed", -1)) for m in writer.dataset.storage.get_episode_metadata(writer.dataset.episode_indices)
        }
    plan = [p for p in episode_plan(cfg) if p[1] not in done_seeds]
    summary = {
        "dataset_id": cfg.dataset_id,
        "path": str(dataset_path(cfg.dataset_id, cfg.root)),
        "skipped": cfg.episodes - len(plan),
    }
    if not plan:
        return {**summary, "episodes": 0, "frames": 0, "frames_per_s": 0.0, "interrupted": False}

    n_proc = max(1, min(cfg.processes, len(plan)))
    envs_per_process = max(1, min(cfg.envs_per_process, -(-len(plan) // n_proc)))
    limit = cfg.max_episode_steps or gym.spec(cfg.env_id).max_episode_steps or 1000
    # fork starts workers with this process's imports and compiled renderer already loaded, and shares memory
    fork = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if fork else "spawn")
    out, stop, counter = ctx.Queue(maxsize=64), ctx.Event(), ctx.Value("q", 0)
    per_worker = envs_per_process + cfg.flush_every + 1  # envs recording + episodes waiting to be written
    pool_bytes = n_proc * per_worker * (limit + 1) * int(np.prod(env_obs_space.shape))
    pool = None
    if fork and pool_bytes <= MAX_SHARED_BYTES:
        pool = _FramePool(ctx, n_proc, per_worker, limit + 1, env_obs_space.shape)
    run = replace(cfg, envs_per_process=envs_per_process)
    workers = [
        ctx.Process(target=_worker, args=(r, run, plan, counter, pool, out, stop), daemon=True) for r in range(n_proc)
    ]
    for w in workers:
        w.start()

    def write(episodes: list[dict]) -> None:
        for ep in episodes:  # frames left in shared memory: read them in place
            if ep["buffer"] is not None:
                ep["observations"] = pool.buffers[ep["buffer"]][: ep["frames"]]
        writer.write(episodes)
        for ep in episodes:  # on disk now: the worker may reuse the buffer
            if ep["buffer"] is not None:
                ep["observations"] = None
                pool.release(ep["buffer"])

    from tqdm import tqdm

    bar = tqdm(
        total=len(plan) * limit, unit="frame", desc=f"record {cfg.dataset_id}", disable=not cfg.progress, smoothing=0.05
    )
    pending: list[dict] = []
    clocks: list[dict] = []  # each finished worker's time: total, in the env, in the policies
    written = frames = 0
    finished = 0
    interrupted = False
    t0 = time.perf_counter()

    requested: list[int] = []  # Ctrl-C and SIGTERM only set this: nothing is cut off half-way

    def on_signal(signum, frame):
        requested.append(signum)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # pyarrow writes each episode file through a pool of 8 I/O threads by default, which spend twice the CPU of
    # the write itself (33 vs 14 ms per 1000-frame episode, measured) on cores the workers need: one thread here
    io_threads = pa.io_thread_count()
    pa.set_io_thread_count(1)
    try:
        while finished < n_proc and not requested:
            try:
                ep = out.get(timeout=0.5)
            except queue.Empty:
                if not any(w.is_alive() for w in workers):
                    break
                continue
            if "done" in ep:
                finished += 1
                clocks.append(ep)
                continue
            pending.append(ep)
            frames += len(ep["rewards"])
            bar.update(len(ep["rewards"]))
            if len(pending) >= cfg.flush_every:
                write(pending)
                written += len(pending)
                pending = []
        if requested:  # stop the workers, keep the episodes that did finish
            interrupted = True
            stop.set()
            deadline = time.time() + 5
            while finished < n_proc and time.time() < deadline:
                try:
                    ep = out.get(timeout=0.2)
                except queue.Empty:
                    continue
                if "done" in ep:
                    finished += 1
                    clocks.append(ep)
                else:
                    pending.append(ep)
                    frames += len(ep["rewards"])
    finally:
        try:
            write(pending)
            written += len(pending)
        finally:
            pa.set_io_thread_count(io_threads)
        for sig, handler in old.items():
            signal.signal(sig, handler)
        bar.close()
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
    elapsed = time.perf_counter() - t0
    worker_s = sum(c["seconds"] for c in clocks)
    shares = {}
    if worker_s > 0:  # the workers' time by what it went to (measured in the workers, so immune to drift)
        env_s, policy_s = sum(c["env"] for c in clocks), sum(c["policy"] for c in clocks)
        shares = {"env": env_s / worker_s, "policy": policy_s / worker_s, "other": 1 - (env_s + policy_s) / worker_s}
        shares = {k: round(v, 3) for k, v in shares.items()}
    return {**summary, "episodes": written, "frames": frames, "seconds": round(elapsed, 1),
            "frames_per_s": round(frames / elapsed, 1), "processes": n_proc, "interrupted": interrupted,
            "worker_time_shares": shares}  # fmt: skip
