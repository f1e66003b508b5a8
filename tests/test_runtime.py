"""The GPU path on a CPU: device / dtype / compile settings, bf16 autocast in sampling and training, and the
on-device window gather, checked for correctness against the float32 path (CI has no GPU; the same code runs)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldsim  # noqa: F401
from worldsim import runtime
from worldsim.diffusion import DiffusionConfig, diffusion_loss
from worldsim.models.actions import space_to_json
from worldsim.models.dit import PRESETS, DiT, DiTConfig
from worldsim.sampler import Sampler, SamplerConfig
from worldsim.world_model import load_world_model

SPACE = space_to_json(gym.spaces.MultiDiscrete([5, 5, 4]))


def tiny_dit(output="gated", seed=0):
    torch.manual_seed(seed)
    model = DiT(DiTConfig(latent_shape=(4, 4, 4), action_space=SPACE, output=output, **PRESETS["tiny"]))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def test_device_and_dtype_settings():
    cpu = runtime.resolve_device("auto")
    assert cpu.type == ("cuda" if torch.cuda.is_available() else "cpu")
    native = runtime.cpu_has_native_bf16()  # AMX: bf16 dreams 1.3-1.6x faster; else emulated, ~3x slower
    assert runtime.resolve_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if native else torch.float32)
    assert runtime.resolve_dtype(None, torch.device("cpu"), training=True) == torch.float32  # CPU recipes: fp32
    assert runtime.resolve_dtype("float32", torch.device("cpu")) == torch.float32
    assert runtime.resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert runtime.resolve_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be"):
        runtime.resolve_dtype("int8", cpu)
    with pytest.raises(ValueError, match="device must be"):
        runtime.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="asks for a GPU"):
            runtime.resolve_device("cuda")


def test_native_bf16_probe_falls_back_to_cpuinfo(monkeypatch):
    """Without PyTorch's AMX probe the answer comes from /proc/cpuinfo's amx_bf16 flag (and is False off Linux)."""
    probe = runtime.cpu_has_native_bf16.__wrapped__
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    try:
        flags = " ".join(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except OSError:
        flags = ""
    assert probe() == (" amx_bf16" in flags)


@pytest.mark.parametrize("output", ["residual", "velocity", "gated"])
def test_every_head_runs_under_bf16_autocast_close_to_float32(output):
    model = tiny_dit(output).eval()
    x = torch.randn(2, 5, 4, 4, 4)
    t = torch.rand(2, 5)
    a = torch.randint(0, 4, (2, 5, 3)).float()
    has = torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        ref = model(x, t, a, has)
        with runtime.autocast(torch.device("cpu"), torch.bfloat16):
            low = model(x, t, a, has)
    for r, lo in zip(ref, low):
        assert lo.dtype == torch.float32 and torch.isfinite(lo).all()  # outputs come back in float32
        assert (lo - r).abs().mean() < 0.05 * r.abs().mean() + 1e-3


def test_sampler_in_bf16_keeps_its_cache_in_bf16_and_follows_float32():
    model = tiny_dit()
    cfg = SamplerConfig(steps=2, context=3)
    ctx = torch.randn(2, 3, 4, 4, 4)
    acts = torch.randint(0, 4, (2, 2, 3)).float()
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        s = Sampler(model, cfg, 2, seeds=[0, 1], dtype=dtype)
        assert s.kv[0][0].dtype == dtype
        s.reset([0, 1], ctx, acts)
        steps = [s.step(torch.tensor([[1.0, 0, 0], [0, 2, 3]])) for _ in range(3)]
        out[dtype] = torch.stack([z for z, _, _ in steps])
        assert all(z.dtype == r.dtype == p.dtype == torch.float32 for z, r, p in steps)
    err = (out[torch.bfloat16] - out[torch.float32]).abs().mean()
    assert torch.isfinite(out[torch.bfloat16]).all() and err < 0.1 * out[torch.float32].abs().mean()


def test_dream_env_in_bf16_gives_numpy_frames(tiny_world_model):
    env = gym.make("worldsim/Dream-v0", model=tiny_world_model, dtype="bfloat16", device="cpu")
    obs, _ = env.reset(seed=0)
    obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert isinstance(obs, np.ndarray) and obs.dtype == np.uint8 and obs.shape == (64, 64, 3)
    assert isinstance(r, float) and np.isfinite(r)
    wm = env.unwrapped.wm
    assert wm.dtype == torch.bfloat16 and wm.device.type == "cpu"
    # the same seed in float32 dreams nearly the same frame
    ref = gym.make("worldsim/Dream-v0", model=tiny_world_model)
    ref.reset(seed=0)
    env.reset(seed=0)
    a = ref.action_space.sample()
    f32, f16 = ref.step(a)[0], env.step(a)[0]
    assert np.abs(f32.astype(int) - f16.astype(int)).mean() < 8


def test_vector_env_takes_the_runtime_settings(tiny_world_model):
    from worldsim.envs.world_model_vector_env import WorldModelVectorEnv

    venv = WorldModelVectorEnv(3, tiny_world_model, dtype="bfloat16")
    obs, _ = venv.reset(seed=0)
    obs, r, term, trunc, info = venv.step(venv.action_space.sample())
    assert obs.shape == (3, 64, 64, 3) and r.dtype == np.float64 and np.isfinite(r).all()
    assert info["termination_prob"].dtype == np.float64


def test_auto_precision_on_a_cpu_follows_the_batch(tiny_world_model, monkeypatch):
    """Under auto a CPU with native bf16 runs 8+ dreams (or frames) in bf16 and fewer in float32; an explicit dtype
    holds at every batch size; training stays float32."""
    from worldsim.envs.world_model_vector_env import WorldModelVectorEnv

    for native in (True, False):
        monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda native=native: native)
        wm = load_world_model(tiny_world_model)
        big = torch.bfloat16 if native else torch.float32
        assert wm.dtype_auto and wm.dtype == big
        assert wm.dtype_for(1) == wm.sampler(batch=1).dtype == torch.float32
        assert wm.dtype_for(runtime.CPU_BF16_MIN_BATCH) == wm.sampler(batch=runtime.CPU_BF16_MIN_BATCH).dtype == big
        assert runtime.resolve_dtype("auto", torch.device("cpu"), training=True) == torch.float32
        venv = WorldModelVectorEnv(runtime.CPU_BF16_MIN_BATCH, wm)
        venv.reset(seed=0)
        assert venv.sampler.dtype == big and np.isfinite(venv.step(venv.action_space.sample())[1]).all()
    fixed = load_world_model(tiny_world_model, dtype="float32")
    assert not fixed.dtype_auto and fixed.sampler(batch=32).dtype == fixed.dtype_for(32) == torch.float32


def test_world_model_loads_with_device_and_dtype(tiny_world_model):
    wm = load_world_model(tiny_world_model, device="cpu", dtype="bfloat16")
    assert wm.dtype == torch.bfloat16 and next(wm.vae.parameters()).dtype == torch.float32  # weights stay fp32
    z = wm.encode(wm.clips["frames"][0, :2])
    assert z.dtype == torch.float32 and z.shape == (2, 4, 4, 4)
    assert wm.decode(z).dtype == np.uint8
    with pytest.raises(ValueError, match="dtype must be"):
        load_world_model(tiny_world_model, dtype="half-ish")


def test_training_step_under_bf16_autocast_learns():
    """A few optimizer steps under CPU bf16 autocast lower the loss on a fixed batch, like float32 does."""
    g = torch.Generator().manual_seed(0)
    batch = {"latents": torch.randn(4, 4, 4, 4, 4, generator=g), "actions": torch.zeros(4, 4, 3),
             "has_action": torch.ones(4, 4, dtype=torch.bool), "rewards": torch.zeros(4, 4),
             "terminations": torch.zeros(4, 4, dtype=torch.bool)}  # fmt: skip
    losses = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = tiny_dit(seed=1).train()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        curve = []
        for i in range(12):
            with runtime.autocast(torch.device("cpu"), dtype):
                loss, logs = diffusion_loss(model, batch, DiffusionConfig(), torch.Generator().manual_seed(i % 2))
            opt.zero_grad()
            loss.backward()
            opt.step()
            curve.append(float(logs["loss"]))
        assert all(p.dtype == torch.float32 for p in model.parameters())
        losses[dtype] = curve
    for curve in losses.values():
        assert np.isfinite(curve).all() and np.mean(curve[-2:]) < np.mean(curve[:2])
    assert abs(losses[torch.bfloat16][0] - losses[torch.float32][0]) < 0.05 * losses[torch.float32][0]


def test_on_device_window_gather_matches_the_host_one():
    from worldsim.data.dataset import FrameStore
    from worldsim.data.latents import concat_stores, to_device, window_batch

    rng = np.random.default_rng(0)
    n = 30
    store = FrameStore(frames=rng.standard_normal((n, 4, 2, 2)).astype(np.float16),
                       ep_start=np.array([0, 12, 30]), actions=rng.integers(0, 4, (n, 3)).astype(np.float32),
                       rewards=rng.standard_normal(n).astype(np.float32), terminations=rng.random(n) < 0.2,
                       episode_ids=np.array([0, 1]))  # fmt: skip
    starts = np.array([0, 5, 12, 20])
    host = window_batch(store, starts, 4)
    dev = window_batch(to_device(store, torch.device("cpu")), starts, 4)
    assert host.keys() == dev.keys()
    for k in host:
        assert host[k].dtype == dev[k].dtype and torch.equal(host[k], dev[k]), k
    both = concat_stores([store, store])
    assert both.num_episodes == 4 and both.ep_start.tolist() == [0, 12, 30, 42, 60]
    assert np.array_equal(both.frames[30:], store.frames)


@pytest.mark.slow
def test_compiled_sampler_and_training_step_match_eager():
    model = tiny_dit()
    cfg = SamplerConfig(steps=2, context=3)
    ctx, acts = torch.randn(2, 3, 4, 4, 4), torch.zeros(2, 2, 3)
    runs = []
    for compile in (False, True):
        s = Sampler(model, cfg, 2, seeds=[0, 1], compile=compile)
        s.reset([0, 1], ctx, acts)
        runs.append(torch.stack([s.step(torch.ones(2, 3))[0] for _ in range(3)]))
    assert torch.allclose(runs[0], runs[1], atol=1e-4)
    batch = {"latents": torch.randn(2, 4, 4, 4, 4), "actions": torch.zeros(2, 4, 3),
             "has_action": torch.ones(2, 4, dtype=torch.bool), "rewards": torch.zeros(2, 4),
             "terminations": torch.zeros(2, 4, dtype=torch.bool)}  # fmt: skip
    short = {k: v[:, :3] for k, v in batch.items()}  # an own-rollout batch: a shorter window after the real one
    losses = []
    for compile in (False, True):
        m = tiny_dit(seed=2).train()
        if compile:
            m.compile(dynamic=False)  # as `worldsim train compile=true` does: one graph per window length
        for b in (batch, short):
            m.zero_grad()
            loss, _ = diffusion_loss(m, b, DiffusionConfig(), torch.Generator().manual_seed(0))
            loss.backward()
            losses.append((float(loss), m.patch_out.weight.grad.clone()))
    for eager, compiled in zip(losses[:2], losses[2:]):
        assert abs(eager[0] - compiled[0]) < 1e-4 and torch.allclose(eager[1], compiled[1], atol=1e-4)
