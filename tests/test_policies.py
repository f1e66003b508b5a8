"""Policies: the batched interface, random actions for any space, and the explorer on the voxel world."""

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401
from worldsim.envs.voxel import blocks
from worldsim.policies import ExplorerPolicy, RandomPolicy, batch_info


@pytest.mark.parametrize(
    "space",
    [gym.spaces.Discrete(4), gym.spaces.MultiDiscrete([5, 5, 4]), gym.spaces.Box(-1, 1, (2,), np.float32)],
)
def test_random_policy_any_space_batched_and_seeded(space):
    obs = np.zeros((3, 8, 8, 3), np.uint8)
    a = RandomPolicy(space, num_envs=3, seed=0).act(obs)
    b = RandomPolicy(space, num_envs=3, seed=0).act(obs)
    assert len(a) == 3 and all(space.contains(x) for x in a)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda n: RandomPolicy(gym.spaces.MultiDiscrete([5, 5, 4]), n, seed=n),
        lambda n: ExplorerPolicy(gym.spaces.MultiDiscrete([5, 5, 4]), n, seed=n),
    ],
)
def test_reseeded_env_acts_the_same_in_any_batch_slot(make):
    """After reset(seeds=...), an env's actions follow from its seed and observations, not from its slot, the
    batch size, or the other envs (what lets the recorder hand episodes to whichever env is free)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (30, 3, 16, 16, 3), dtype=np.uint8)
    solo, batch = make(1), make(3)
    solo.reset(seeds=[42])
    batch.reset(np.array([False, True, False]), seeds=[None, 42, None])
    for f in frames:
        a = solo.act(f[1:2])
        b = batch.act(f, mask=np.array([True, True, False]))
        assert np.array_equal(a[0], b[1])
    with pytest.raises(ValueError, match="one entry per env"):
        batch.reset(seeds=[1, 2])


def test_policy_checks_batch_size():
    pol = RandomPolicy(gym.spaces.Discrete(2), num_envs=2)
    with pytest.raises(ValueError, match="batch of 2"):
        pol.act(np.zeros((3, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="num_envs=1"):
        pol.act_single(np.zeros((4, 4, 3), np.uint8))


def test_explorer_rejects_other_action_spaces():
    with pytest.raises(ValueError, match="MultiDiscrete"):
        ExplorerPolicy(gym.spaces.Discrete(3))


def test_explorer_collects_wood_on_fixed_seed():
    env = gym.make("worldsim/Voxel-v0")
    pol = ExplorerPolicy(env.action_space, seed=1)
    obs, info = env.reset(seed=1)
    total = 0.0
    for _ in range(300):
        obs, r, *_, info = env.step(pol.act_single(obs, info))
        total += r
    assert info["logs_collected"] >= 1 and total >= 1


def test_explorer_shows_every_action():
    env = gym.make("worldsim/Voxel-v0")
    pol = ExplorerPolicy(env.action_space, seed=2)
    obs, info = env.reset(seed=2)
    actions, broke, placed = [], 0, 0
    for _ in range(1000):
        a = pol.act_single(obs, info)
        actions.append(a)
        obs, r, term, trunc, info = env.step(a)
        broke += info["broke"] != 0
        placed += info["placed"] != 0
    actions = np.array(actions)
    for col, n in enumerate((5, 5, 4)):
        assert set(np.unique(actions[:, col])) == set(range(n))
    assert broke > 0 and placed > 0


def test_explorer_batched_on_vector_env_and_without_info():
    envs = gym.make_vec("worldsim/Voxel-v0", num_envs=2, vectorization_mode="sync")
    pol = ExplorerPolicy(envs.single_action_space, num_envs=2, seed=0)
    obs, info = envs.reset(seed=[0, 1])
    for k in range(30):
        actions = pol.act(obs, info if k % 2 else None)  # a dream gives no ground-truth info
        assert actions.shape == (2, 3) and all(envs.single_action_space.contains(a) for a in actions)
        obs, r, term, trunc, info = envs.step(actions)
        pol.reset(term | trunc)
    envs.close()


def test_explorer_deterministic_under_seed():
    def run():
        env = gym.make("worldsim/Voxel-v0")
        pol = ExplorerPolicy(env.action_space, seed=4)
        obs, info = env.reset(seed=4)
        out = []
        for _ in range(100):
            a = pol.act_single(obs, info)
            out.append(a)
            obs, *_, info = env.step(a)
        return np.array(out)

    assert np.array_equal(run(), run())


def test_batch_info():
    info = batch_info({"a": 1, "b": np.zeros(3)})
    assert info["a"].shape == (1,) and info["b"].shape == (1, 3)
    assert blocks.LOG in range(blocks.NUM_BLOCKS)


def test_policy_ladder_by_name_random_share_and_errors():
    from worldsim.policies import EpsilonPolicy, StillPolicy, make_policy

    space = gym.spaces.MultiDiscrete([5, 5, 4])
    obs = np.zeros((64, 8, 8, 3), np.uint8)
    assert not make_policy("still", space, 64).act(obs).any()
    half = make_policy("eps:0.5:still", space, 64, seed=0)
    assert isinstance(half, EpsilonPolicy) and isinstance(half.base, StillPolicy)
    moved = np.mean([half.act(obs).any(axis=1).mean() for _ in range(20)])
    assert 0.35 < moved < 0.55  # half the steps random, and a random action is all zeros 1/100 of the time
    assert not make_policy("eps:0:still", space, 64).act(obs).any()
    a, b = (make_policy("eps:0.3:random", space, 4, seed=5).act(obs[:4]) for _ in range(2))
    assert np.array_equal(a, b)  # seeded
    for bad, match in (("eps:x:random", "eps:<share"), ("eps:0.5", "eps:<share"), ("eps:1.5:random", "epsilon"),
                       ("greedy", "unknown policy")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            make_policy(bad, space)
    with pytest.raises(ValueError, match="zeros"):
        make_policy("still", gym.spaces.Box(1.0, 2.0, (2,)))


def test_hold_policy_holds_break_after_the_bases_breaks_then_hands_back():
    from worldsim.envs import make_env
    from worldsim.policies import HoldPolicy, make_policy

    space = gym.spaces.MultiDiscrete([5, 5, 4])
    obs = np.zeros((8, 8, 8, 3), np.uint8)

    class Breaker(RandomPolicy):  # walks forward, pressing break every third step
        calls = 0

        def act(self, obs, info=None, mask=None):
            Breaker.calls += 1
            return np.tile([1, 0, 2 if Breaker.calls % 3 == 0 else 0], (self.num_envs, 1))

    hold = HoldPolicy(Breaker(space, 8), 1.0, 8, seed=0)
    seq = np.stack([hold.act(obs) for _ in range(12)], 1)  # (8 envs, 12 steps, 3)
    for env_actions in seq:
        k = int(np.flatnonzero(env_actions[:, 2] == 2)[0])  # the base's first break (step 2), held 1-4 more steps
        held = 0
        while k + 1 + held < 12 and env_actions[k + 1 + held].tolist() == [0, 0, 2]:
            held += 1
        assert 1 <= held <= 4 and env_actions[k].tolist() == [1, 0, 2]
    assert not make_policy("hold:0:explorer", space, 1).left.any()
    a, b = (make_policy("hold:0.5:random", space, 4, seed=5) for _ in range(2))
    assert np.array_equal(np.stack([a.act(obs[:4]) for _ in range(20)]), np.stack([b.act(obs[:4]) for _ in range(20)]))
    for bad, match in (("hold:x:explorer", "hold:<share"), ("hold:2:explorer", "hold probability")):
        with pytest.raises(ValueError, match=match):
            make_policy(bad, space)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        make_policy("hold:0.5:random", gym.spaces.Discrete(4))
    env = make_env("worldsim/Voxel-v0", (32, 32, 3))  # it drives the real world: a held press on air pays nothing
    pol = make_policy("hold:1:explorer", env.action_space, 1, seed=0)
    obs1, info = env.reset(seed=0)
    for _ in range(50):
        obs1, r, *_, info = env.step(pol.act_single(obs1, info))
        assert r in (-1.0, 0.0, 1.0)


def test_revisit_policy_turns_away_and_back_to_the_view_it_left():
    """``revisit:<p>:<base>`` breaks off to turn k camera steps one way, wait, turn k back, standing still: in the
    real voxel world it ends on the frame it left; seeded, it repeats; bad specs and spaces are refused."""
    from worldsim.envs import make_env
    from worldsim.policies import RevisitPolicy, make_policy

    space = gym.spaces.MultiDiscrete([5, 5, 4])
    obs = np.zeros((6, 8, 8, 3), np.uint8)
    pol = RevisitPolicy(make_policy("random", space, 6, seed=1), 1.0, 6, seed=0, max_turn=6, max_dwell=3)
    seq = np.stack([pol.act(obs) for _ in range(30)], 1)  # (6 envs, 30 steps, 3): a look-away starts at once
    for env_actions in seq:
        cam = env_actions[:, 1].tolist()
        turn = next(i for i, c in enumerate(cam) if c != cam[0])  # the first run of one yaw direction
        back = [2 if cam[0] == 1 else 1] * turn
        rest = cam[turn:]
        dwell = next(i for i, c in enumerate(rest) if c != 0)
        assert 4 <= turn <= 6 and cam[0] in (1, 2) and dwell <= 3 and rest[dwell : dwell + turn] == back
        assert not env_actions[: 2 * turn + dwell][:, [0, 2]].any()  # standing still, pressing nothing
    assert all(not p for p in make_policy("revisit:0:explorer", space, 2).plan)
    a, b = (make_policy("revisit:0.1:random", space, 4, seed=5) for _ in range(2))
    assert np.array_equal(np.stack([a.act(obs[:4]) for _ in range(40)]), np.stack([b.act(obs[:4]) for _ in range(40)]))
    for bad, match in (("revisit:x:explorer", "revisit:<share"), ("revisit:2:explorer", "revisit probability")):
        with pytest.raises(ValueError, match=match):
            make_policy(bad, space)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        make_policy("revisit:0.5:random", gym.spaces.Discrete(4))
    env = make_env("worldsim/Voxel-v0", (32, 32, 3))
    pol = make_policy("revisit:1:still", env.action_space, 1, seed=3)
    first, info = env.reset(seed=0)
    for _ in range(40):  # the world settles (the player lands) before the look-away starts
        first, *_, info = env.step(np.zeros(3, np.int64))
    pol.reset()
    frames = [first]
    while True:
        frames.append(env.step(pol.act_single(frames[-1], info))[0])
        if not pol.plan[0]:
            break
    assert len(frames) >= 9 and not np.array_equal(frames[len(frames) // 2], first)
    assert np.array_equal(frames[-1], first)  # back on the view it left


def test_pause_policy_stands_still_in_runs_and_the_real_view_stays():
    """``pause:<p>:<base>`` breaks off into runs of 1-24 all-zero actions, the base policy's actions between them;
    seeded, it repeats; in the real voxel world, once the player has landed, a pause leaves the frame as it was;
    bad specs are refused."""
    from worldsim.envs import make_env
    from worldsim.policies import PausePolicy, make_policy

    space = gym.spaces.MultiDiscrete([5, 5, 4])
    obs = np.zeros((4, 8, 8, 3), np.uint8)
    pol = make_policy("pause:0.05:random", space, 4, seed=2)
    assert isinstance(pol, PausePolicy)
    seq = np.stack([pol.act(obs) for _ in range(600)], 1)  # (4 envs, 600 steps, 3)
    still = ~seq.any(-1)
    runs = [len(r) for env in still for r in "".join("x" if s else "." for s in env).split(".") if r]
    assert 0.15 < still.mean() < 0.6 and max(runs) >= 8 and max(runs) <= 24 + 2  # a random no-op may touch a run
    assert seq[~still].any(-1).all() and len(np.unique(seq[~still], axis=0)) > 50  # the base's actions between
    again = make_policy("pause:0.05:random", space, 4, seed=2)
    assert np.array_equal(np.stack([again.act(obs) for _ in range(600)], 1), seq)
    never, base = make_policy("pause:0:explorer", space, 2, seed=4), make_policy("explorer", space, 2, seed=4)
    for _ in range(50):  # a share of 0 never stops: the base policy's own actions, step for step
        assert np.array_equal(never.act(obs[:2]), base.act(obs[:2])) and not never.left.any()
    for bad, match in (("pause:x:explorer", "pause:<share"), ("pause:1.5:explorer", "pause probability")):
        with pytest.raises(ValueError, match=match):
            make_policy(bad, space)
    env = make_env("worldsim/Voxel-v0", (32, 32, 3))
    pol = make_policy("pause:1:random", env.action_space, 1, seed=3)
    frame, info = env.reset(seed=0)
    for _ in range(40):  # the player lands
        frame, *_, info = env.step(np.zeros(3, np.int64))
    pol.reset()
    for _ in range(5):
        action = pol.act_single(frame, info)
        assert not action.any()
        nxt, *_, info = env.step(action)
        assert np.array_equal(nxt, frame)  # standing still on land: the view is the view


def test_log_under_crosshair_reads_bark_through_pixel_noise():
    """The explorer's pixel test for a log under its crosshair judges the window's mean colour: a dream's decoder
    adds per-pixel colour noise that a count of bark pixels does not survive; leaves, sky and dirt are no log."""
    from worldsim.policies.explorer import log_mask, log_under_crosshair

    bark, leaves, dirt = (65, 45, 21), (40, 80, 30), (134, 96, 67)
    frames = np.empty((4, 64, 64, 3), np.uint8)
    for i, colour in enumerate((bark, bark, leaves, dirt)):
        frames[i] = colour
    noise = np.random.default_rng(0).integers(-9, 10, (64, 64, 3))
    frames[1] = np.clip(frames[1].astype(int) + noise, 0, 255)
    frames[:, 32, 29:36] = frames[:, 31:34, 32] = (190, 210, 234)  # the crosshair
    assert log_under_crosshair(frames).tolist() == [True, True, False, False]
    assert log_mask(frames[1])[31:34, 29:36].sum() < 12  # per pixel, the noisy trunk is mostly not bark
    assert log_under_crosshair(frames[0]).shape == ()
