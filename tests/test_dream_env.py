"""The dream as Gymnasium environments: API checkers, determinism, options, vector env, SB3, bad input."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldsim  # noqa: F401
from worldsim.dream import Dream
from worldsim.envs.world_model_env import WorldModelEnv
from worldsim.envs.world_model_vector_env import SB3VecEnv, WorldModelVectorEnv


def test_gymnasium_and_sb3_checkers(tiny_world_model):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("worldsim/Dream-v0", model=tiny_world_model, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(WorldModelEnv(tiny_world_model), warn=True)


def test_spaces_come_from_the_checkpoint(tiny_world_model):
    env = WorldModelEnv(tiny_world_model)
    assert env.observation_space.shape == (64, 64, 3) and env.observation_space.dtype == np.uint8
    assert env.action_space == gym.spaces.MultiDiscrete([5, 5, 4])


def rollout(env, seed, actions, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    frames = [obs]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        frames.append(obs)
    return np.stack(frames)


def test_same_seed_same_actions_same_frames(tiny_world_model):
    actions = [np.array([1, 0, 0]), np.array([0, 2, 1]), np.array([3, 0, 2])] * 2
    env = WorldModelEnv(tiny_world_model)
    a, b = rollout(env, 5, actions), rollout(WorldModelEnv(tiny_world_model), 5, actions)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[1:], rollout(env, 6, actions)[1:])


def test_a_reset_from_the_models_own_clip_skips_the_encoder_and_starts_the_same(tiny_world_model):
    """Each start clip is encoded once and kept (as a single dream encodes it); a dream started from the kept
    latents is the very dream started from the same frames encoded anew."""
    env = WorldModelEnv(tiny_world_model)
    wm, ctx = env.unwrapped.wm, env.unwrapped.dream.context
    obs, _ = env.reset(seed=4)
    assert len(wm._clip_cache) == 2  # its frames' source and the one clip drawn
    k = next(i for i in range(len(wm.clips["frames"])) if np.array_equal(wm.clips["frames"][i, ctx - 1], obs))
    z = wm.clip_latents(k, ctx)
    assert z is wm.clip_latents(k, ctx) and torch.equal(z, wm.encode(wm.clips["frames"][k, :ctx][None])[0])
    frames, acts = wm.clips["frames"][k : k + 1, :ctx], wm.clips["actions"][k : k + 1, : ctx - 1]
    steps = np.zeros((3, 1, 3), np.int64)
    runs = []
    for latents in (None, z[None]):  # encoded anew, or the kept latents
        dream = Dream(wm, 1, seeds=[0])
        dream.start([0], frames, acts, latents)
        runs.append([dream.step(a).frames for a in steps])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    wm.clips = {key: v[::-1].copy() for key, v in wm.clips.items()}  # new clips: a new cache
    assert not torch.equal(wm.clip_latents(k, ctx), z) and len(wm._clip_cache) == 2


def test_reset_options(tiny_world_model):
    env = WorldModelEnv(tiny_world_model, horizon=3)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    obs, info = env.reset(seed=0, options={"frames": frames, "actions": np.zeros((3, 3), np.int64)})
    assert np.array_equal(obs, frames[-1]) and info["dream_step"] == 0
    obs, _ = env.reset(seed=0, options={"image": frames[0]})
    assert np.array_equal(obs, frames[0])
    obs, _ = env.reset(seed=0, options={"from_scratch": True})
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    for _ in range(3):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        assert isinstance(r, float) and 0.0 <= info["termination_prob"] <= 1.0
    assert trunc and info["dream_step"] == 3


@pytest.mark.parametrize(
    "options, match",
    [
        ({"frames": np.zeros((3, 64, 64, 3), np.float32), "actions": np.zeros((2, 3), np.int64)}, "uint8"),
        ({"frames": np.zeros((3, 32, 32, 3), np.uint8), "actions": np.zeros((2, 3), np.int64)}, "shape"),
        ({"frames": np.zeros((3, 64, 64, 3), np.uint8), "actions": np.zeros((1, 3), np.int64)}, "2 actions"),
        ({"frames": np.zeros((3, 64, 64, 3), np.uint8), "actions": np.full((2, 3), 7)}, "outside the action space"),
        ({"image": np.zeros((64, 64), np.uint8)}, "image"),
        ({"clip": 1}, "unknown reset options"),
    ],
)
def test_bad_reset_options(tiny_world_model, options, match):
    with pytest.raises(ValueError, match=match):
        WorldModelEnv(tiny_world_model).reset(seed=0, options=options)


def test_bad_actions_and_models(tiny_world_model, tmp_path):
    env = WorldModelEnv(tiny_world_model)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.array([0, 0, 0]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(np.array([5, 0, 0]))
    with pytest.raises(FileNotFoundError, match="no world model"):
        WorldModelEnv(str(tmp_path / "missing"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "dit.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        WorldModelEnv(str(tmp_path / "junk"))
    with pytest.raises(ValueError, match="needs model="):
        gym.make("worldsim/Dream-v0")


def test_model_for_another_env_is_refused(tiny_world_model):
    WorldModelEnv(tiny_world_model, real_env_id="worldsim/Voxel-v0")  # 64x64 voxel actions: fits
    with pytest.raises(ValueError, match="CartPole-v1 acts in Discrete"):
        WorldModelEnv(tiny_world_model, real_env_id="CartPole-v1")
    with pytest.raises(ValueError, match="acts in"):
        gym.make_vec("worldsim/Dream-v0", num_envs=2, model=tiny_world_model, real_env_id="CartPole-v1")


def test_vector_env_equals_single_envs(tiny_world_model):
    n, seeds = 3, [11, 12, 13]
    rng = np.random.default_rng(0)
    actions = rng.integers([5, 5, 4], size=(6, n, 3))
    venv = gym.make_vec("worldsim/Dream-v0", num_envs=n, model=tiny_world_model)
    assert isinstance(venv, WorldModelVectorEnv)
    obs, _ = venv.reset(seed=seeds)
    vframes = [obs]
    for a in actions:
        vframes.append(venv.step(a)[0])
    vframes = np.stack(vframes, 1)  # (N, T, H, W, 3)
    for i in range(n):  # the same env alone, restarting as NEXT_STEP does: the step after an end is a reset
        env = WorldModelEnv(tiny_world_model)
        obs, _ = env.reset(seed=seeds[i])
        frames, done = [obs], False
        for a in actions[:, i]:
            if done:
                obs, _ = env.reset()
                done = False
            else:
                obs, _, term, trunc, _ = env.step(a)
                done = term or trunc
            frames.append(obs)
        single = np.stack(frames)
        diff = np.abs(single.astype(int) - vframes[i].astype(int))
        assert diff.max() <= 2 and diff.mean() < 0.05  # batched float math may round a pixel differently


def test_vector_env_autoresets_on_its_own(tiny_world_model):
    venv = WorldModelVectorEnv(2, tiny_world_model, horizon=2)
    venv.reset(seed=0)
    a = np.zeros((2, 3), np.int64)
    venv.step(a)
    _, _, _, trunc, _ = venv.step(a)
    assert trunc.all()
    obs, r, term, trunc, info = venv.step(a)  # NEXT_STEP: the reset step
    assert not trunc.any() and (r == 0).all() and (info["dream_step"] == 0).all()
    with pytest.raises(ValueError, match="outside the action space"):
        venv.step(np.array([[0, 0, 0], [0, 9, 0]]))


def test_sb3_ppo_learns_on_the_vector_env(tiny_world_model):
    from stable_baselines3 import PPO

    venv = SB3VecEnv(WorldModelVectorEnv(4, tiny_world_model, horizon=16))
    venv.seed(0)
    kwargs = {"normalize_images": True, "features_extractor_kwargs": {"features_dim": 32}}
    model = PPO("CnnPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu", policy_kwargs=kwargs)
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    obs = venv.reset()
    actions, _ = model.predict(obs)
    assert actions.shape == (4, 3)


def test_malformed_actions_and_options_get_errors_that_name_the_problem(tiny_world_model):
    venv = WorldModelVectorEnv(3, tiny_world_model)
    venv.reset(seed=0)
    good = np.array([[1, 2, 0], [0, 0, 0], [4, 4, 3]])
    for bad, err, match in [
        (None, TypeError, "batch of 3 actions"),
        (3, TypeError, "batch of 3 actions"),
        (good[:2], ValueError, "3 actions, one per env, got 2"),
        (good.astype(float), ValueError, "actions are float64, but .* takes integers"),
        (np.array([[1, 2, 0], [0, 9, 0], [0, 0, 0]]), ValueError, r"action 1: .*outside \[\[0, 0, 0\], \[4, 4, 3\]\]"),
        (np.array([["a", "b", "c"]] * 3), TypeError, "must be numbers"),
    ]:
        with pytest.raises(err, match=match):
            venv.step(bad)
    env = WorldModelEnv(tiny_world_model)
    frame = np.zeros((64, 64, 3), np.uint8)
    for options, err, match in [
        ([1, 2], TypeError, "must be a dict"),
        ("frames", TypeError, "must be a dict"),
        ({"image": frame, "frames": frame[None]}, ValueError, "give one of them"),
        ({"from_scratch": "no"}, TypeError, "True or False"),
        ({"actions": np.zeros((0, 3))}, ValueError, "go with options\\['frames'\\]"),
    ]:
        with pytest.raises(err, match=match):
            env.reset(options=options)
    env.reset(options={"from_scratch": False})  # a plain False is a normal reset


def test_a_bad_action_is_named_by_its_index_and_its_fault():
    from worldsim.models.actions import check_actions

    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    batch = np.array([[0.5, 0.5], [0.1, 0.2], [np.nan, 0.0]], np.float32)
    with pytest.raises(ValueError, match="action 2: .*not finite"):
        check_actions(box, batch)
    with pytest.raises(ValueError, match="action 1: .*outside the bounds"):
        check_actions(box, np.array([[0.5, 0.5], [3.0, 0.0]], np.float32))
    with pytest.raises(ValueError, match=r"action 0: .*shape \(3,\), expected \(2,\)"):
        check_actions(box, np.zeros((1, 3), np.float32))


def test_the_soak_measures_finiteness_memory_and_brightness(tiny_world_model, tmp_path):
    from PIL import Image

    from worldsim.eval.soak import soak

    r = soak(tiny_world_model, steps=20, num_envs=2, env_steps=10, window=10, threads=1, sheet=str(tmp_path / "s.png"))
    sheet = np.asarray(Image.open(r["sheet"]))  # what the single dream showed beside its real run, window by window
    assert sheet.ndim == 3 and sheet.shape[1] > 4 * sheet.shape[0]  # one row: 2 windows x (real, dream)
    for part in ("single", "vector"):
        assert r[part]["finite"] and len(r[part]["brightness_by_window"]) == r[part]["steps"] // 10
        assert isinstance(r[part]["brightness_kept"], bool) and r[part]["rss_growth_mb"] < 100
        assert len(r[part]["contrast_by_window"]) == len(r[part]["brightness_by_window"])
        assert isinstance(r[part]["contrast_kept"], bool)  # a dream pinned at one flat colour fails here
    assert 0 < r["real_contrast_p5"] < 128 and isinstance(r["passed"], bool)
    swam = r["real_in_water_by_window"]  # where the real player swam, window for window
    assert len(swam["single"]) == 2 and len(swam["vector"]) == 1 and all(0 <= x <= 1 for x in swam["single"])
    single = np.ravel(r["real_brightness_by_window"]["single"])  # 4 real runs x 2 windows
    assert r["single"]["brightness_range_by_window"][0] == pytest.approx(np.percentile(single, [5, 95]), abs=0.06)
    for part in ("single", "vector"):  # brightness: window for window against the real world under the same play
        ranges = r[part]["brightness_range_by_window"]
        assert len(ranges) == len(r[part]["brightness_by_window"]) and all(0 <= lo <= hi for lo, hi in ranges)
        outside = sum(not lo <= m <= hi for m, (lo, hi) in zip(r[part]["brightness_by_window"], ranges))
        assert r[part]["windows_outside_range"] == outside
        assert r[part]["brightness_kept"] == (outside <= len(ranges) / 4)
    lo, hi = r["vector"]["brightness_range_by_window"][0]  # centred on the real runs' average
    assert (lo + hi) / 2 == pytest.approx(r["real_brightness_by_window"]["vector"][0], abs=0.1)
    for part, windows in (("single", 4 * 2), ("vector", 1)):  # the real world under the same play, window for window
        real = np.ravel(r["real_contrast_by_window"][part])
        assert len(real) == windows and r[part]["contrast_bar"] == pytest.approx(np.percentile(real, 5), abs=0.06)
        below = sum(c < r[part]["contrast_bar"] for c in r[part]["contrast_by_window"])
        assert r[part]["windows_below_bar"] == below  # at most a quarter of the dream's windows may fall below
        assert r[part]["contrast_kept"] == (below <= len(r[part]["contrast_by_window"]) / 4)
    with pytest.raises(ValueError, match="window"):
        soak(tiny_world_model, steps=5, num_envs=2, env_steps=10, window=10, threads=1)
    with pytest.raises(ValueError, match="num_envs"):
        soak(tiny_world_model, steps=10, num_envs=1, env_steps=10, window=10, threads=1)


def test_the_soak_starts_each_dream_where_its_real_run_stood(tiny_world_model):
    """The soak's dreams play on from their real runs' openings with the same actions: the openings are the real
    world's first frames from that seed, deterministic, and a vector env takes one per env (reset with a seed and a
    reset_mask, which once crashed on numpy indices)."""
    from worldsim.envs import make_env
    from worldsim.eval.soak import _real_play

    real = make_env("worldsim/Voxel-v0", (64, 64, 3), max_episode_steps=10**9)
    bright, flat, clips, acts, _, water = _real_play(real, 2, 5, seed=3, context=4)
    assert bright.shape == flat.shape == water.shape == (2, 5) and water.dtype == bool
    assert clips.shape == (2, 4, 64, 64, 3) and acts.shape == (2, 8, 3)
    first, _ = real.reset(seed=4)
    np.testing.assert_array_equal(clips[1, 0], first)
    again = _real_play(real, 2, 5, seed=3, context=4)
    np.testing.assert_array_equal(again[2], clips)
    np.testing.assert_array_equal(again[3], acts)
    envs = gym.make_vec("worldsim/VoxelDream-v0", num_envs=2, model=tiny_world_model)
    envs.reset(seed=0)
    frames, _ = envs.reset(
        seed=0, options={"frames": clips[1], "actions": acts[1, :3], "reset_mask": np.array([False, True])}
    )
    np.testing.assert_array_equal(frames[1], clips[1, -1])  # env 1 starts on the opening's last frame
    envs.close()


def test_same_step_autoreset_and_the_sb3_adapter_are_plain_subclasses(tiny_world_model):
    from gymnasium.vector import AutoresetMode
    from stable_baselines3.common.vec_env import VecEnv

    from worldsim.envs.sb3_vec_env import SB3VecEnv as Adapter

    venv = WorldModelVectorEnv(2, tiny_world_model, horizon=2, autoreset_mode="SameStep")
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    venv.reset(seed=0)
    a = np.zeros((2, 3), np.int64)
    venv.step(a)
    obs, r, term, trunc, info = venv.step(a)  # the episode ends, the next one starts in the same step
    assert trunc.all() and info["_final_obs"].all() and info["final_obs"][0].shape == (64, 64, 3)
    assert np.array_equal(obs, venv.frames)
    first = venv.restart([1])
    assert first.shape == (1, 64, 64, 3)
    sb3 = Adapter(WorldModelVectorEnv(2, tiny_world_model, horizon=2))
    assert isinstance(sb3, VecEnv) and isinstance(sb3, SB3VecEnv)  # one class, importable from both modules
    sb3.reset()
    sb3.step(a)
    obs, rew, done, infos = sb3.step(a)
    assert done.all() and all("terminal_observation" in i for i in infos) and rew.dtype == np.float32
    with pytest.raises(TypeError, match="wraps a WorldModelVectorEnv"):
        Adapter(object())
