"""Speed benchmarks. Each returns a dict that the CLI prints as one JSON object on its last line."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

import worldsim  # noqa: F401  (registers the env ids)
from worldsim import runtime


def bench_env(env_id: str = "worldsim/Voxel-v0", steps: int = 5000, seed: int = 0, **env_kwargs) -> dict:
    """Steps/s of one env in one process with random actions, resets included (registered episode limit)."""
    env = gym.make(env_id, **env_kwargs)
    space = env.action_space
    space.seed(seed)
    actions = [space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    env.reset(seed=seed)  # warm-up: compiles (or loads the compile cache)
    first_reset = time.perf_counter() - t0

    resets, reset_time = 0, 0.0
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            t1 = time.perf_counter()
            env.reset()
            reset_time += time.perf_counter() - t1
            resets += 1
    elapsed = time.perf_counter() - t0

    u = env.unwrapped
    render_ms = None
    if hasattr(u, "_render_frame"):
        t1 = time.perf_counter()
        for _ in range(200):
            u._render_frame()
        render_ms = (time.perf_counter() - t1) / 200 * 1e3
    env.close()
    obs_shape = list(env.observation_space.shape) if env.observation_space.shape else None
    return {
        "benchmark": "env",
        "env_id": env_id,
        "obs_shape": obs_shape,
        "steps": steps,
        "resets": resets,
        "steps_per_s": round(steps / elapsed, 1),
        "mean_reset_ms": round(reset_time / max(resets, 1) * 1e3, 2),
        "render_ms": None if render_ms is None else round(render_ms, 3),
        "first_reset_s": round(first_reset, 3),
        "numpy": np.__version__,
    }


def _replay(cfg, episodes) -> list[tuple[int, float]]:
    """Step the env through recorded (seed, actions) episodes and nothing else; (frames, seconds) per episode."""
    from worldsim.data.record import make_recording_env

    env = make_recording_env(cfg.env_id, cfg.env_kwargs, cfg.max_episode_steps)
    env.reset(seed=0)  # warm-up
    timings = []
    for seed, actions in episodes:
        t0 = time.perf_counter()
        env.reset(seed=seed)
        for a in actions:
            env.step(a)
        timings.append((len(actions), time.perf_counter() - t0))
    env.close()
    return timings


def _fps(timings: list[tuple[int, float]]) -> float:
    return sum(f for f, _ in timings) / sum(t for _, t in timings)


def bench_record(episodes: int = 96, processes: int = 2, envs_per_process: int = 1, seed: int = 0,
                 policies: dict | None = None, max_episode_steps: int = 1000, repeats: int = 5) -> dict:  # fmt: skip
    """Recording throughput against the env's own speed on exactly the same episodes.

    ``record_frames_per_s``: `worldsim record` on ``processes`` processes, policies acting, writing a real dataset
    (start-up included). ``env_frames_per_s``: the recorded episodes replayed from their seeds and actions in
    ``processes`` processes at once, the env and nothing else (summed per-process frames/s). ``efficiency`` =
    record / env. ``vs_env_benchmark`` = record / (`bench env` x processes), the random-action benchmark in one
    process alone; ``env_parallel_scaling`` says how much of that gap is the env's own: its speed per process side
    by side with the others over its speed alone, on the same episodes. This machine's speed drifts by 10-20%
    over minutes, so record and replay alternate ``repeats`` times and the medians are reported (each round's
    efficiency too)."""
    import multiprocessing as mp
    import tempfile

    from worldsim.data import open_dataset
    from worldsim.data.record import RecordConfig, record

    policies = dict(policies or {"explorer": 0.8, "random": 0.2})
    rounds, shares, scaling = [], [], []
    for r in range(max(1, int(repeats))):
        cfg = RecordConfig(episodes=episodes, processes=processes, envs_per_process=envs_per_process,
                           seed=seed + r * episodes, policies=policies, max_episode_steps=max_episode_steps,
                           progress=False)  # fmt: skip
        with tempfile.TemporaryDirectory() as root:
            cfg.root = root
            cfg.dataset_id = "bench/record-v0"
            summary = record(cfg)
            ds = open_dataset(cfg.dataset_id, root=root)
            metas = list(ds.storage.get_episode_metadata(ds.episode_indices))
            recorded = [(m["seed"], np.asarray(ep.actions)) for m, ep in zip(metas, ds.iterate_episodes())]
        with mp.get_context("fork").Pool(processes) as pool:
            parts = pool.starmap(_replay, [(cfg, recorded[i::processes]) for i in range(processes)])
        env_fps = sum(_fps(part) for part in parts)
        # the first 2 episodes of each replay process once more, alone: how well the env itself runs side by side
        subset = [e for i in range(processes) for e in recorded[i::processes][:2]]
        with mp.get_context("fork").Pool(1) as pool:
            alone = pool.apply(_replay, (cfg, subset))
        together = [x for part in parts for x in part[:2]]
        scaling.append(_fps(together) / _fps(alone))
        rounds.append((summary["frames_per_s"], env_fps, summary["frames"]))
        shares.append(summary["worker_time_shares"])
    record_fps = float(np.median([x[0] for x in rounds]))
    env_fps = float(np.median([x[1] for x in rounds]))
    bench = bench_env(steps=5000, seed=seed)["steps_per_s"]
    return {
        "benchmark": "record",
        "processes": processes,
        "episodes": episodes,
        "frames": int(rounds[0][2]),
        "repeats": len(rounds),
        "record_frames_per_s": round(record_fps, 1),
        "env_frames_per_s": round(env_fps, 1),
        "efficiency": round(float(np.median([x[0] / x[1] for x in rounds])), 3),
        "efficiency_by_round": [round(x[0] / x[1], 3) for x in rounds],
        # inside the workers (measured there, so the machine's drift cancels): env, policies, the rest
        "worker_time_shares": {k: round(float(np.mean([s[k] for s in shares])), 3) for k in shares[0]},
        # the env's own speed per process when `processes` of them run at once, over its speed alone (same episodes):
        # below 1 where the cores share caches and memory bandwidth, whatever runs around the env
        "env_parallel_scaling": round(float(np.median(scaling)), 3),
        "env_benchmark_steps_per_s": bench,
        "vs_env_benchmark": round(record_fps / (bench * processes), 3),
    }


def _world_model(model: str, preset: str = "cpu", device: str = "cpu", dtype: str | None = None,
                 compile: bool = False):  # fmt: skip
    """A trained world model by name/path, or ``random``: the default VAE and DiT preset with random weights
    (speed does not depend on the weights), on ``device`` in ``dtype``."""
    import gymnasium as gym

    from worldsim.models.actions import space_to_json
    from worldsim.models.dit import PRESETS, DiT, DiTConfig
    from worldsim.models.vae import VAE, VAEConfig
    from worldsim.sampler import SamplerConfig
    from worldsim.world_model import WorldModel, load_world_model

    if model != "random":
        return load_world_model(model, device=device, dtype=dtype, compile=compile)
    dev = runtime.resolve_device(device)
    vae = VAE(VAEConfig()).eval().to(dev)
    space = space_to_json(gym.spaces.MultiDiscrete([5, 5, 4]))
    dit = DiT(DiTConfig(latent_shape=vae.cfg.latent_shape, action_space=space, **PRESETS[preset])).eval().to(dev)
    rng = np.random.default_rng(0)
    clips = {"frames": rng.integers(0, 255, (4, 8, *vae.cfg.resolution, 3), dtype=np.uint8),
             "actions": np.zeros((4, 7, 3), np.float32)}  # fmt: skip
    return WorldModel(vae, dit, SamplerConfig(), window=8, info={"model": "random"}, clips=clips,
                      dtype=runtime.resolve_dtype(dtype, dev), compile=compile,
                      dtype_auto=runtime.is_auto(dtype))  # fmt: skip


def matmul_peak_gflops(n: int = 1024, repeats: int = 20, device=None, dtype=None) -> float:
    """This machine's matmul speed (fp32 on a CPU with torch's current thread count; the compute dtype on a GPU,
    at n = 8192): the ceiling for the DiT."""
    import torch

    device = torch.device(device or "cpu")
    dtype = dtype or torch.float32
    if device.type == "cuda":
        n = max(n, 8192)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    dt = _time(lambda: a @ b, repeats, device, warmup=3)
    return 2 * n**3 / dt / 1e9


def _sync(device) -> None:
    import torch

    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, repeats: int, device=None, warmup: int = 1) -> float:
    """Seconds per call of ``fn`` (after ``warmup`` calls; a GPU is synchronised before each reading)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / repeats


def bench_vae(model: str = "voxel", repeats: int = 20, threads: int = 2) -> dict:
    """Encode and decode frames/s at batch 1 and 32 (the decoder runs on every dream step). ``model``: a shipped
    name, a world-model folder, a VAE run folder or checkpoint file, or ``random``."""
    import torch

    from worldsim.models.vae import VAE, VAEConfig, load_vae

    torch.set_num_threads(threads)
    wm_vae = VAE(VAEConfig()).eval() if model == "random" else load_vae(model)
    h, w = wm_vae.cfg.resolution
    out = {"benchmark": "vae", "model": model, "resolution": [h, w], "latent_shape": list(wm_vae.cfg.latent_shape)}
    with torch.inference_mode():
        for b in (1, 32):
            frames = torch.randint(0, 255, (b, h, w, 3), dtype=torch.uint8)
            z = wm_vae.encode(frames)
            enc = _time(lambda f=frames: wm_vae.encode(f), repeats)
            dec = _time(lambda z=z: wm_vae.decode(z), repeats)
            out[f"encode_fps_b{b}"] = round(b / enc, 1)
            out[f"decode_fps_b{b}"] = round(b / dec, 1)
            if b == 1:
                out["decode_ms_b1"] = round(dec * 1e3, 3)
    return out


def bench_sampler(model: str = "voxel", preset: str = "cpu", steps: list | None = None, repeats: int = 10,
                  threads: int = 2, device: str = "cpu", dtype: str | None = None, compile: bool = False,
                  batches: list | None = None) -> dict:  # fmt: skip
    """Dream frames/s (sampler + decode) at each batch size (1 and 32; 1, 32 and 256 on a GPU) for several
    sampler step counts, the KV cache's speed-up over recomputing the window, and the DiT's achieved GFLOP/s
    against this machine's matmul peak. ``device``/``dtype``/``compile`` as everywhere (``worldsim.runtime``);
    with ``compile`` the first step at each batch size and step count (the compilation) is not timed."""
    import torch

    torch.set_num_threads(threads)
    wm = _world_model(model, preset, device, dtype, compile)
    dev = wm.device
    steps = list(steps or [1, 2, 4])
    batches = [int(b) for b in (batches or ([1, 32, 256] if dev.type == "cuda" else [1, 32]))]
    ctx = wm.window - 1
    dit = wm.dit
    out = {
        "benchmark": "sampler",
        "model": model,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
        "dtype": runtime.dtype_name(wm.dtype),  # of large batches; the curve says each batch's (auto on a CPU)
        "compile": bool(compile),
        "batches": batches,
        "params_m": round(sum(p.numel() for p in dit.parameters()) / 1e6, 2),
        "tokens_per_frame": dit.cfg.tokens_per_frame,
        "context": ctx,
        "default_steps": wm.sampler_cfg.steps,
    }
    curve = []
    warm = 3 if compile else 1
    with torch.inference_mode():
        for b in batches:
            for k in steps:
                s = wm.sampler(batch=b, seeds=list(range(b)), steps=k)
                s.reset(range(b), torch.randn(b, ctx, *dit.cfg.latent_shape, device=dev),
                        torch.zeros(b, ctx - 1, dit.action_width, device=dev))  # fmt: skip
                acts = torch.zeros(b, dit.action_width, device=dev)
                dt = _time(lambda s=s, a=acts: wm.decode(s.step(a)[0]), repeats, dev, warm)
                dit_only = _time(lambda s=s, a=acts: s.step(a), repeats, dev)
                passes = max(k, 2)  # network passes per frame (one step needs a separate commit pass)
                curve.append({"batch": b, "steps": k, "dtype": runtime.dtype_name(s.dtype),
                              "fps": round(b / dt, 1), "dit_fps": round(b / dit_only, 1),
                              "gflops": round(dit.flops_per_frame() * passes * b / dit_only / 1e9, 1)})  # fmt: skip
        # the KV cache against recomputing the whole window of ctx + 1 frames on every pass, by batch size: at
        # batch 1 both paths stream every weight once per pass, which the cache cannot save
        speedups = {}
        for b in () if compile else (1, 4, 8, 32):  # (eager only: compiling every batch size costs minutes)
            s = wm.sampler(batch=b, seeds=list(range(b)))
            ctx_latents = torch.randn(b, ctx, *dit.cfg.latent_shape, device=dev)
            ctx_actions = torch.zeros(b, ctx - 1, dit.action_width, device=dev)
            acts = torch.zeros(b, dit.action_width, device=dev)
            s.reset(range(b), ctx_latents, ctx_actions)
            cached = _time(lambda s=s, a=acts: s.step(a, use_cache=True), repeats, dev, warm)
            s.reset(range(b), ctx_latents, ctx_actions)
            uncached = _time(lambda s=s, a=acts: s.step(a, use_cache=False), max(2, repeats // 3), dev)
            speedups[b] = round(uncached / cached, 2)
    default = {(c["batch"], c["steps"]): c for c in curve}
    k = wm.sampler_cfg.steps
    peak = matmul_peak_gflops(device=dev, dtype=wm.dtype)
    out.update({
        **{f"fps_b{b}": default.get((b, k), {}).get("fps") for b in batches},
        "fps_b1": default.get((1, k), {}).get("fps"),
        "fps_b32": default.get((32, k), {}).get("fps"),
        "kv_cache_speedup": speedups.get(1),
        "kv_cache_speedup_b32": speedups.get(32),
        "kv_cache_speedup_by_batch": speedups,
        "window": ctx + 1,
        "dit_gflops_b32": default.get((32, k), {}).get("gflops"),
        "matmul_peak_gflops": round(peak, 1),
        "curve": curve,
    })  # fmt: skip
    out["dit_fraction_of_peak_b32"] = round(out["dit_gflops_b32"] / peak, 3) if out["dit_gflops_b32"] else None
    return out


def bench_dream(model: str = "voxel", num_envs: int = 32, steps: int = 20, threads: int = 2, device: str = "cpu",
                dtype: str | None = None, compile: bool = False, std_floor: float | None = None,
                mean_band: float | None = None, memory: bool | None = None) -> dict:  # fmt: skip
    """Env steps/s of ``WorldModelVectorEnv`` with ``num_envs`` dreams against the bare sampler (+ decode) at the
    same batch: what the Gymnasium layer (and the view memory, ``memory``: None where the world has one) costs.
    Resets are not timed (see ``mean_reset_ms`` for their cost).
    ``std_floor``: None the model's contrast floor, 0 none, a quantile sets one (``WorldModel.set_std_floor``);
    ``mean_band`` the same for the colour band."""
    import torch

    from worldsim.envs.world_model_vector_env import WorldModelVectorEnv

    torch.set_num_threads(threads)
    wm = _world_model(model, "cpu", device, dtype, compile)
    wm.set_sampler_limits(std_floor, mean_band)
    # episodes do not end during the timing (an untrained model's termination head fires at random)
    venv = WorldModelVectorEnv(num_envs, wm, horizon=10**9, termination_threshold=2.0, memory=memory)
    venv.reset(seed=0)
    space = venv.action_space
    space.seed(0)
    actions = [space.sample() for _ in range(steps + 1)]
    venv.step(actions[0])
    t0 = time.perf_counter()
    for a in actions[1:]:
        venv.step(a)
    env_fps = num_envs * steps / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    venv.restart(range(num_envs))
    reset_ms = (time.perf_counter() - t0) / num_envs * 1e3
    s = venv.sampler
    flat = wm.flat_actions(actions[0])
    with torch.inference_mode():
        per_step = _time(lambda: wm.decode(s.step(flat)[0]), steps, wm.device)
    sampler_fps = num_envs / per_step
    return {
        "benchmark": "dream",
        "model": model,
        "num_envs": num_envs,
        "view_memory": venv.dream.memory is not None,
        "dtype": runtime.dtype_name(venv.sampler.dtype),
        "env_steps_per_s": round(env_fps, 1),
        "sampler_fps": round(sampler_fps, 1),
        "env_fraction_of_sampler": round(env_fps / sampler_fps, 3),
        "mean_reset_ms": round(reset_ms, 2),
    }
