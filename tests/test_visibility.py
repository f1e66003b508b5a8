"""The voxel world's surface ids and the visibility oracle built on them (worldsim/eval/visibility.py)."""

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401
from worldsim.data.dataset import FrameStore
from worldsim.envs.voxel.env import VoxelEnv
from worldsim.eval.visibility import replay_surfaces, seen_mask, visibility_oracles

NOOP, YAW_RIGHT, PITCH_DOWN = [0, 0, 0], [0, 2, 0], [0, 4, 0]


def test_surface_ids_name_faces_and_sky():
    env = VoxelEnv()
    env.reset(seed=0)
    ids = env.surface_ids()
    assert ids.shape == (64, 64) and ids.dtype == np.int64
    assert (ids[0] == -1).any() and (ids[-1] >= 0).all()  # sky at the top of a level view, ground at the bottom
    env.step(NOOP)
    np.testing.assert_array_equal(env.surface_ids(), ids)  # nothing moved: the same surfaces


def test_a_turn_brings_unseen_surfaces_in_at_its_side():
    env = VoxelEnv()
    env.reset(seed=0)
    for _ in range(6):
        env.step(PITCH_DOWN)  # look down: ground fills the view
    before = env.surface_ids()
    for _ in range(3):
        env.step(YAW_RIGHT)
    unseen = ~seen_mask(env.surface_ids(), before[None])
    assert unseen.any()
    assert unseen[:, -16:].mean() > 5 * unseen[:, :16].mean()  # turning right: new ground enters on the right


def test_replay_matches_the_recording_and_refuses_another(tmp_path):
    env = gym.make("worldsim/Voxel-v0")
    obs, _ = env.reset(seed=5)
    actions = np.random.default_rng(0).integers(0, [5, 5, 4], (12, 3))
    frames = [obs]
    for a in actions:
        frames.append(env.step(a)[0])
    frames = np.stack(frames)
    ids = replay_surfaces(env.spec, 5, actions, frames)
    assert ids.shape == (13, 64, 64)
    other = frames.copy()
    other[7] = 255 - other[7]
    with pytest.raises(ValueError, match="another version of the voxel world"):
        replay_surfaces(env.spec, 5, actions, other)
    with pytest.raises(ValueError, match="recorded from worldsim/Voxel-v0"):
        replay_surfaces(gym.spec("CartPole-v1"), 5, actions)


def test_oracles_score_a_recorded_clip():
    env = gym.make("worldsim/Voxel-v0")
    obs, _ = env.reset(seed=2)
    rng = np.random.default_rng(1)
    actions = rng.integers(0, [5, 5, 2], (20, 3)).astype(np.float32)
    frames = [obs] + [env.step(a.astype(np.int64))[0] for a in actions]
    store = FrameStore(np.stack(frames), np.array([0, 21]), np.concatenate([actions, np.zeros((1, 3), np.float32)]),
                       np.zeros(21, np.float32), np.zeros(21, bool), np.array([0]))  # fmt: skip
    out = visibility_oracles(store, [{"seed": 2}], env.spec, np.array([0, 5]), context=4, horizon=3)
    assert len(out["unseen_fraction"]) == 3 and all(0 <= u < 0.5 for u in out["unseen_fraction"])
    # the seen pixels are exact, so both oracles beat copying the last frame; the true mean beats copying the rest
    assert min(out["psnr_seen_exact_mean_rest"]) >= min(out["psnr_seen_exact_copy_rest"]) > 20
