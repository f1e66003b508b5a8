"""View memory (worldsim.memory): a dream that turns back to a view while standing still shows that view again."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldsim  # noqa: F401  (registers the env ids)
from worldsim.memory import ViewMemory, view_pose_of

RIGHT, LEFT, UP, DOWN, NOOP = [0, 2, 0], [0, 1, 0], [0, 3, 0], [0, 4, 0], [0, 0, 0]


def _voxel_memory(batch=1):
    pose = view_pose_of("worldsim/Voxel-v0")
    assert pose is not None  # the voxel world declares how its camera turns
    return ViewMemory(pose, batch)


def _frame(v):
    return torch.full((2, 2, 2), float(v))


def test_pose_wraps_a_full_turn_clamps_pitch_and_forgets_on_moving():
    mem = _voxel_memory()
    mem.start(0, torch.stack([_frame(7)]), np.zeros((0, 3)))
    for k in range(71):  # a full turn but the last step: no view there yet
        assert mem.recall(np.array([RIGHT])) is None
        mem.keep(_frame(100 + k)[None])
    hit = mem.recall(np.array([RIGHT]))  # the 72nd step ends where the dream started
    assert hit is not None and bool(hit[0][0]) and float(hit[1][0].mean()) == 7.0
    mem.keep(hit[1])
    for _ in range(20):  # pitch stops at +60 degrees: 12 steps up, then more do nothing
        mem.recall(np.array([UP]))
        mem.keep(_frame(50)[None])
    assert int(mem.pitch[0]) == 12
    hit = None
    for _ in range(12):
        hit = mem.recall(np.array([DOWN]))
        mem.keep(_frame(1)[None] if hit is None else hit[1])
    assert hit is not None and float(hit[1][0].mean()) == 7.0  # 12 down brings back the level view
    mem.recall(np.array([[1, 0, 0]]))  # a step forward: every view is from elsewhere now
    assert len(mem) == 0
    mem.keep(_frame(3)[None])
    mem.recall(np.array([[0, 0, 1]]))  # a jump: nothing is kept while the player may be in the air (12 steps),
    for a in [[1, 0, 0]] * 5 + [NOOP] * 6:  # walking on in the air does not land it sooner
        mem.recall(np.array([a]))
        mem.keep(_frame(4)[None])
    assert len(mem) == 0
    mem.recall(np.array([NOOP]))
    mem.keep(_frame(5)[None])
    assert len(mem) == 1


def test_a_view_shown_in_flight_comes_back_only_once_out_of_the_window():
    pose = view_pose_of("worldsim/Voxel-v0")
    for stale_after, back in ((None, False), (5, True)):
        mem = ViewMemory(pose, 1, stale_after=stale_after)
        mem.start(0, torch.stack([_frame(7), _frame(8)]), np.array([[0, 0, 1]]))  # the clip ends in a jump
        seen = []
        for a in [RIGHT] * 2 + [LEFT] * 2 + [RIGHT] * 3 + [LEFT] * 3:
            hit = mem.recall(np.array([a]))
            seen.append(None if hit is None else float(hit[1][0].mean()))
            mem.keep(_frame(len(seen) + 10)[None] if hit is None else hit[1])
        # back at the start's pose after 4 steps: still in a 5-step window, the DiT draws it (frame 14, which
        # replaces the clip's at that pose); back again 6 steps later, it is out of the window: recalled
        assert seen[:-1] == [None] * 9
        assert seen[-1] == (14.0 if back else None)
    mem = ViewMemory(pose, 1, stale_after=5)  # a start clip's real frame after a break shows the world as it is:
    mem.start(0, torch.stack([_frame(7), _frame(8)]), np.array([[0, 0, 2]]))  # kept, unsettled (a fall may follow)
    assert len(mem) == 1 and mem.views[0][(0, 0)][2] is False
    mem.recall(np.array([[0, 0, 2]]))  # a break the dream draws is a change, not a flight: its settling frames,
    mem.keep(_frame(9)[None])  # which the DiT draws the break over, are not kept
    assert len(mem) == 0
    for _ in range(6):
        mem.recall(np.array([NOOP]))
        mem.keep(_frame(9)[None])
    assert len(mem) == 1  # 6 steps after the break: the view is kept, settled
    for bad in (0, True, -3):
        with pytest.raises(ValueError, match="stale_after must be"):
            ViewMemory(pose, 1, stale_after=bad)


def test_a_start_pitch_puts_the_clamp_where_the_world_has_it():
    ups, downs = [UP] * 5, [DOWN] * 5  # from +50 degrees: the world stops at +60 after 2 steps, back 5 is +35
    for pitch, recalled in ((None, True), (10, False)):  # counted from level, 5 up and 5 down is back at the start
        mem = _voxel_memory()
        mem.start(0, torch.stack([_frame(7)]), np.zeros((0, 3)), pitch=pitch)
        hit = None
        for a in ups + downs:
            hit = mem.recall(np.array([a]))
            mem.keep(_frame(1)[None] if hit is None else hit[1])
        assert (hit is not None and float(hit[1][0].mean()) == 7.0) is recalled
    assert int(mem.pitch[0]) == 7
    with pytest.raises(ValueError, match=r"pitch must lie within \+-12 steps, got 13"):
        mem.start(0, pitch=13)


def test_memory_in_the_real_world_brings_back_what_the_world_shows():
    """The memory's rule run on the real voxel world's frames: where it recalls a view, the world shows that view
    (exactly, but for a fall the actions do not show)."""
    from worldsim.policies import make_policy

    hits = exact = 0
    for ep in range(3):
        env = gym.make("worldsim/Voxel-v0", width=32, height=32, max_episode_steps=10**6)
        pol = make_policy("revisit:0.05:explorer", env.action_space, 1, seed=ep)
        obs, _ = env.reset(seed=700 + ep)
        mem = _voxel_memory()
        mem.start(0, torch.from_numpy(obs)[None].float())
        for _ in range(200):
            a = pol.act(obs[None])[0]
            hit = mem.recall(np.asarray(a, np.float64)[None])
            obs, *_ = env.step(a)
            if hit is not None:
                hits += 1
                exact += bool(np.array_equal(hit[1][0].numpy(), obs.astype(np.float32)))
            mem.keep(torch.from_numpy(obs)[None].float())
        env.close()
    assert hits >= 50
    assert exact >= 0.95 * hits


def test_a_world_without_view_pose_has_none():
    assert view_pose_of("CartPole-v1") is None
    assert view_pose_of("nothing/Here-v0") is None


def _turn_dream(wm, memory, seeds=(0, 1), last=NOOP):
    from worldsim.dream import Dream

    n = len(seeds)
    clips = wm.clips["frames"][list(seeds), :3]
    dream = Dream(wm, n, seeds=list(seeds), memory=memory)
    acts = wm.flat_action_runs(np.array([[NOOP, last]] * n))
    dream.start(range(n), clips, acts)  # standing still (or in a jump's flight): the last frame is kept
    start = wm.encode(clips[:, -1])
    outs = [dream.step(np.array([RIGHT] * n)) for _ in range(72)]
    return start, outs


def test_a_dream_that_turns_full_circle_ends_on_its_first_view(tiny_world_model):
    from worldsim.world_model import load_world_model

    wm = load_world_model(tiny_world_model)
    start, outs = _turn_dream(wm, None)
    assert torch.allclose(outs[-1].latents, start, atol=1e-5)  # the remembered view, not a fresh draw
    assert np.isfinite(outs[-1].reward).all() and outs[-1].frames.shape == (2, 64, 64, 3)
    _, plain = _turn_dream(wm, False)
    assert not torch.allclose(plain[-1].latents, start, atol=1e-2)
    for a, b in zip(outs[:-1], plain[:-1]):  # until the turn closes the memory changes nothing (same noise)
        assert torch.equal(a.latents, b.latents)
    jumped, outs_j = _turn_dream(wm, None, last=[0, 0, 1])  # the clip ends in the air: its view comes back too,
    assert torch.allclose(outs_j[-1].latents, jumped, atol=1e-5)  # 72 steps later, long out of the window
    _, single = _turn_dream(wm, None, seeds=(1,))
    assert all(torch.allclose(a.latents[1:], b.latents, atol=1e-4) for a, b in zip(outs, single))  # = dream 1 alone


def test_memory_argument_is_checked(tiny_world_model):
    from worldsim.dream import Dream
    from worldsim.world_model import load_world_model

    wm = load_world_model(tiny_world_model)
    with pytest.raises(ValueError, match="memory must be"):
        Dream(wm, 1, memory="yes")
    dream = Dream(wm, 2)  # a model without the pitch input: the start pitch still places the memory's clamp
    dream.start(range(2), wm.clips["frames"][:2, :3], np.zeros((2, 2, 3), np.float32), pitch=[10, None])
    assert dream.memory.pitch.tolist() == [10, 0]
    with pytest.raises(ValueError, match=r"pitch must lie within \+-12 camera steps"):
        dream.start([0], pitch=[13])
    wm.info["env_id"] = "CartPole-v1"
    with pytest.raises(ValueError, match="declares no view_pose"):
        Dream(wm, 1, memory=True)
    assert Dream(wm, 1).memory is None  # a world without a view pose dreams without memory
