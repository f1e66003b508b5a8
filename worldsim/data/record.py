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

import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow as pa

from worldsim.data import guard
from worldsim.data.dataset import check_compatible, dataset_path, open_dataset
from worldsim.data.record_worker import _FramePool, _worker, make_recording_env, runs_torch
from worldsim.envs import resolve_env_id

__all__ = ["RecordConfig", "episode_plan", "make_recording_env", "record"]

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
            spec = recorded_spec(self.cfg)
            self.dataset = minari.create_dataset_from_buffers(
                self.cfg.dataset_id,
                buffers,
                env=spec,
                eval_env=spec,
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
        guard.commit(Path(self.dataset.storage.data_path))  # these episodes are whole: a crash keeps them


def recorded_spec(cfg: RecordConfig) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``cfg.env_id`` with the keyword arguments and episode limit the recording used, so
    that the dataset names the env it came from exactly (and its episodes can be replayed from their seeds)."""
    spec = gym.spec(resolve_env_id(cfg.env_id))
    limit = spec.max_episode_steps if cfg.max_episode_steps is None else int(cfg.max_episode_steps)
    return replace(spec, kwargs={**spec.kwargs, **dict(cfg.env_kwargs or {})}, max_episode_steps=limit)


VAE_DOWNSAMPLE = 8  # the default VAE's downsampling (worldsim train-vae arch.downsample)


def check_frame_size(space: gym.Space, env_id: str) -> None:
    """A warning (stderr) where the frames' H or W (``space``: the recorded images, checked as such by
    ``make_recording_env``) is not a multiple of the default VAE's downsampling, saying what to set."""
    import sys

    h, w = space.shape[:2]
    if h % VAE_DOWNSAMPLE or w % VAE_DOWNSAMPLE:
        down = max(d for d in (8, 4, 2, 1) if h % d == 0 and w % d == 0)
        print(f"worldsim record: frames of {h}x{w} are not a multiple of {VAE_DOWNSAMPLE}, the default VAE's "
              f"downsampling: train the VAE with arch.downsample={down}, or record with resize=[{h // 8 * 8 or 8},"
              f"{w // 8 * 8 or 8}]", file=sys.stderr, flush=True)  # fmt: skip


def record(cfg: RecordConfig) -> dict:
    """Record the recipe ``cfg``; returns a summary (episodes, frames, frames/s, dataset path). One recorder per
    dataset (a second one stops with an error); a dataset a crash left inconsistent is repaired first
    (``guard.repair``)."""
    from minari.dataset.minari_dataset import parse_dataset_id

    try:  # a malformed id fails here, before anything is recorded
        parse_dataset_id(cfg.dataset_id)
    except TypeError as exc:  # minari's own error for a missing version is int(None)'s
        raise ValueError(f"dataset_id {cfg.dataset_id!r} has no version: write it as <namespace>/<name>-v<version>, "
                         f"e.g. {cfg.dataset_id}-v0") from exc  # fmt: skip
    with guard.recording_lock(cfg.root, cfg.dataset_id):
        return _record(cfg)


def _record(cfg: RecordConfig) -> dict:
    root = Path(cfg.root).absolute()
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    import worldsim  # noqa: F401

    try:  # the env's spec is resolved (its module imported) and serialisable before the first episode is played
        recorded_spec(cfg).to_json()
    except ValueError as exc:
        raise ValueError(f"cannot record {cfg.env_id}: the dataset must name its env, and {exc} Register it with a "
                         "string entry point, entry_point='yourmodule:YourEnv'") from exc  # fmt: skip
    probe = make_recording_env(cfg.env_id, cfg.env_kwargs, cfg.max_episode_steps)
    obs_space = env_obs_space = probe.observation_space
    if cfg.resize is not None:
        h, w = (int(x) for x in cfg.resize)
        obs_space = gym.spaces.Box(0, 255, (h, w, 3), np.uint8)
    action_space = probe.action_space
    probe.close()
    check_frame_size(obs_space, cfg.env_id)
    from worldsim.policies import make_policy

    for name in cfg.policies:  # a policy that cannot drive this env is refused before anything is played
        try:
            make_policy(name, action_space, 1, seed=0)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"policy {name!r} cannot record {cfg.env_id}: {exc}") from exc

    repaired = (
        guard.repair(dataset_path(cfg.dataset_id, cfg.root)) if dataset_path(cfg.dataset_id, cfg.root).exists() else []
    )
    for line in repaired:
        print(f"worldsim record: {cfg.dataset_id}: {line}", flush=True)
    data = dataset_path(cfg.dataset_id, cfg.root) / "data"
    if (data / "metadata.json").is_file():
        guard.commit(data)  # a copy to rebuild from before the first write (datasets from before had none)
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
    limit = cfg.max_episode_steps or gym.spec(resolve_env_id(cfg.env_id)).max_episode_steps or 1000
    # fork starts workers with this process's imports and compiled renderer already loaded, and shares memory;
    # but a policy that runs torch (an SB3 .zip, loaded above to check it) has started torch's thread pool here,
    # and a forked child's first torch call would hang on it: such recordings spawn their workers
    fork = "fork" in mp.get_all_start_methods() and not runs_torch(cfg.policies)
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
    failure: dict | None = None

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
            if "error" in ep:  # a worker failed: keep what is finished, then say why
                failure = ep
                finished += 1
                break
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
        if requested or failure:  # stop the workers, keep the episodes that did finish
            interrupted = True
            stop.set()
            deadline = time.time() + 5
            while finished < n_proc and time.time() < deadline:
                try:
                    ep = out.get(timeout=0.2)
                except queue.Empty:
                    continue
                if "done" in ep or "error" in ep:
                    finished += 1
                    if "done" in ep:
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
    if failure is not None:
        raise RuntimeError(f"worldsim record: worker {failure['rank']} failed ({written} episodes were written and "
                           f"kept; run again to resume):\n{failure['error']}")  # fmt: skip
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
