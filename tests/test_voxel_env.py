"""The voxel world: API conformance, determinism, physics, interaction, rewards, bad input."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401
from worldsim.envs.voxel import blocks
from worldsim.envs.voxel.env import VoxelEnv

FWD, JUMP, BREAK, PLACE = [1, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3]
NOOP = [0, 0, 0]


def flat_env(**kw) -> VoxelEnv:
    """A reset env whose world is flat stone up to y=9, the player standing at (64.5, 10, 64.5) facing +z."""
    env = VoxelEnv(world_size=128, **kw)
    env.reset(seed=0)
    env.world[:] = blocks.AIR
    env.world[:, :, :10] = blocks.STONE
    env.state[:] = (64.5, 10.0, 64.5, 0.0, 1.0, 0.0, 0.0)
    env.yaw, env.pitch = 0.0, 0.0
    env._top = 16
    return env


def test_gymnasium_check_env_without_warnings():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("worldsim/Voxel-v0", render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)


def test_sb3_check_env():
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(VoxelEnv(), warn=True)


def test_spaces_and_frame():
    env = gym.make("worldsim/Voxel-v0")
    obs, info = env.reset(seed=3)
    assert env.observation_space.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert tuple(env.action_space.nvec) == (5, 5, 4)
    assert env.spec.max_episode_steps == 1000
    assert obs.std() > 5  # not a blank frame
    for key in ("position", "yaw", "pitch", "inventory", "target_block", "broke", "placed", "logs_collected"):
        assert key in info
    assert info["inventory"].shape == (blocks.NUM_BLOCKS,)


def test_resolution_and_aspect_configurable():
    env = gym.make("worldsim/Voxel-v0", width=96, height=64)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 96, 3)


def test_same_seed_same_actions_same_frames():
    rng = np.random.default_rng(0)
    actions = [rng.integers([5, 5, 4]) for _ in range(120)]

    def rollout():
        env = gym.make("worldsim/Voxel-v0")
        frames = [env.reset(seed=11)[0]]
        frames += [env.step(a)[0] for a in actions]
        return np.stack(frames)

    a, b = rollout(), rollout()
    assert np.array_equal(a, b)
    env = gym.make("worldsim/Voxel-v0")
    assert not np.array_equal(env.reset(seed=12)[0], a[0])


def test_world_is_varied_and_big_enough():
    env = VoxelEnv()
    env.reset(seed=1)
    present = {blocks.BLOCK_NAMES[b] for b in np.unique(env.world)}
    assert {"grass", "dirt", "stone", "sand", "water", "log", "leaves", "bedrock"} <= present
    # 1000 steps at 0.2 blocks a step cannot reach an edge from the spawn
    x, _, z = env.state[:3]
    assert min(x, z, env.world_size - x, env.world_size - z) > 1000 * 0.2


def test_wall_stops_the_player():
    env = flat_env()
    env.world[60:70, 70, 10:13] = blocks.STONE  # a wall 3 high across the path at z=70
    for _ in range(60):
        *_, info = env.step(FWD)
    assert info["position"][2] == pytest.approx(70 - 0.3, abs=0.01)
    assert info["blocked"]
    for _ in range(20):  # jumping does not clear a 3-high wall
        env.step([1, 0, 1])
    assert env.state[2] < 70


def test_jump_comes_back_down_and_clears_one_block():
    env = flat_env()
    heights = []
    for k in range(30):
        *_, info = env.step(JUMP if k == 0 else NOOP)
        heights.append(info["position"][1])
    assert max(heights) > 11.0  # rises more than one block
    assert heights[-1] == pytest.approx(10.0) and info["on_ground"]
    env.world[60:70, 67:90, 10] = blocks.STONE  # a one-block step up onto a platform
    for _ in range(40):
        env.step([1, 0, 1])
    for _ in range(20):
        env.step(NOOP)
    assert env.state[2] > 68 and env.state[1] == pytest.approx(11.0)


def test_break_and_place_change_world_frame_and_reward():
    env = flat_env()
    env.world[64, 66, 11] = blocks.LOG  # at eye level, 1.5 blocks ahead
    obs0, *_ = env.step(NOOP)
    obs1, r, _, _, info = env.step(BREAK)
    assert r == 1.0 and info["broke"] == blocks.LOG
    assert env.world[64, 66, 11] == blocks.AIR
    assert info["inventory"][blocks.LOG] == 1 and info["logs_collected"] == 1
    assert not np.array_equal(obs0, obs1)

    env.pitch = -45.0  # look at the floor in front
    env.step(NOOP)
    obs2, r, _, _, info = env.step(PLACE)
    assert info["placed"] == blocks.LOG and r == -1.0  # re-placing a log gives its point back
    assert info["inventory"][blocks.LOG] == 0
    assert (env.world == blocks.LOG).sum() == 1
    assert not np.array_equal(obs1, obs2)
    _, r, _, _, info = env.step(PLACE)  # nothing left to place
    assert info["placed"] == 0 and r == 0.0


def test_cannot_break_bedrock_or_place_into_self():
    env = flat_env(start_inventory={"dirt": 5})
    env.world[:, :, :10] = blocks.BEDROCK
    env.pitch = -60.0
    env.step(NOOP)
    _, _, _, _, info = env.step(BREAK)
    assert info["broke"] == 0
    env.pitch = -60.0
    env.yaw = 0.0
    env.world[64, 65, 10] = blocks.BEDROCK
    env.world[64, 65, 11] = blocks.AIR
    env.step(NOOP)


def test_wood_goal_terminates():
    env = flat_env(wood_goal=1)
    env.world[64, 66, 11] = blocks.LOG
    env.step(NOOP)
    _, r, terminated, truncated, _ = env.step(BREAK)
    assert r == 1.0 and terminated and not truncated


@pytest.mark.parametrize("bad", [[5, 0, 0], [0, 5, 0], [0, 0, 4], [-1, 0, 0], [1, 1], [[1, 1, 1]], "jump"])
def test_bad_action_raises_value_error(bad):
    env = gym.make("worldsim/Voxel-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.unwrapped.step(bad)


def test_step_before_reset_raises():
    with pytest.raises(gym.error.ResetNeeded):
        VoxelEnv().step([0, 0, 0])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="render_mode"):
        VoxelEnv(render_mode="video")
    with pytest.raises(ValueError, match="start_inventory"):
        VoxelEnv(start_inventory={"diamond": 1})
    with pytest.raises(gym.error.Error):
        gym.make("worldsim/NoSuchWorld-v0")


def test_world_seed_option():
    env = VoxelEnv()
    a, info_a = env.reset(seed=0, options={"world_seed": 42})
    b, info_b = env.reset(seed=1, options={"world_seed": 42})
    assert info_a["world_seed"] == info_b["world_seed"] == 42
    with pytest.raises(ValueError, match="world_seed"):
        env.reset(options={"world_seed": -3})


def test_human_render_opens_a_window_headless():
    env = gym.make("worldsim/Voxel-v0", render_mode="human", window_scale=2)
    env.reset(seed=0)
    env.step([1, 0, 0])
    assert env.render() is None
    env.close()


def test_vector_env_runs():
    envs = gym.make_vec("worldsim/Voxel-v0", num_envs=2, vectorization_mode="sync")
    obs, info = envs.reset(seed=[0, 1])
    assert obs.shape == (2, 64, 64, 3) and info["position"].shape == (2, 3)
    obs, r, term, trunc, info = envs.step(np.array([[1, 0, 0], [0, 1, 1]]))
    assert r.shape == (2,)
    envs.close()
