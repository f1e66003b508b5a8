"""The camera's pitch as a conditioning input (worldsim/models/pitch.py): integrated from the actions as the world
integrates it, learnt from recordings, carried through a dream; a warm start from a model without it is that model."""

import numpy as np
import pytest
import torch
from test_dit import SPACE

from worldsim.models.actions import space_to_json
from worldsim.models.dit import PRESETS, DiT, DiTConfig
from worldsim.models.pitch import PitchRule, pitch_track
from worldsim.sampler import Sampler, SamplerConfig

RULE = {"column": 1, "steps": {"1": 1, "2": -1}, "limit": 2}  # camera value 1 tilts up, 2 down, +-2 steps


def tiny(pitch=RULE, seed=0, table=True) -> DiT:
    torch.manual_seed(seed)
    model = DiT(DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(SPACE), output="gated", pitch=pitch,
                          **PRESETS["tiny"]))  # fmt: skip
    with torch.no_grad():
        for name, p in model.named_parameters():
            if table or not name.startswith("pitch_embed."):
                p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


def test_the_pitch_is_integrated_and_clamped_as_the_world_does_and_restarts_level_each_episode():
    rule = PitchRule.from_config(RULE, 3)
    cams = [1, 1, 1, 0, 2, 2, 2, 2, 2, 1, 1, 1]  # up past the limit, down past it, up again; then a new episode
    acts = np.zeros((len(cams), 3), np.float32)
    acts[:, 1] = cams
    track = pitch_track(acts, np.array([0, 9, 12]), rule)
    assert track.tolist() == [0, 1, 2, 2, 2, 1, 0, -1, -2, 0, 1, 2]  # frame j's pitch, before action j
    p = torch.tensor([2, -2, 0])
    stepped = rule.step(p, torch.tensor([[0.0, 1, 0], [0, 2, 0], [0, 3, 0]]))
    assert stepped.tolist() == [2, -2, 0]  # clamped; camera value 3 does not tilt
    assert rule.index(stepped, torch.tensor([True, False, True])).tolist() == [4, rule.unknown, 2]


@pytest.mark.parametrize(
    "bad, match",
    [({"column": 3, "steps": {"1": 1}, "limit": 2}, r"pitch.column must be an action column in \[0, 3\)"),
     ({"column": 1, "steps": {"1": 1}, "limit": 0}, "pitch.limit must be a whole number"),
     ({"column": 1, "steps": {"up": 1}, "limit": 2}, "pitch.steps keys must be whole camera values"),
     ({"column": 1, "steps": {"1": 5}, "limit": 2}, "pitch.steps values must be nonzero whole steps"),
     ({"column": 1, "steps": {"1": 1}}, "pitch must be null or")],
)  # fmt: skip
def test_a_bad_pitch_rule_is_refused_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(SPACE), pitch=bad)


def test_a_warm_start_from_a_model_without_the_input_is_that_model():
    from test_dit import inputs
    from test_dit import tiny as tiny_without

    donor = tiny_without(output="gated")
    model = tiny(table=False)
    model.adapt_from(donor)
    x, t, a, has = inputs()
    ref = donor(x, t, a, has)
    for pitch in (None, torch.zeros(2, 5, dtype=torch.long), torch.full((2, 5), 4)):
        out = model(x, t, a, has, pitch=pitch)
        assert all(torch.equal(u, v) for u, v in zip(ref, out))
    with pytest.raises(ValueError, match="holds a DiT with config"):  # the input cannot be dropped silently
        tiny_without(output="gated").adapt_from(model)


def run(model, pitch, use_cache=True, steps=5):
    ctx = torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(9))
    clip_acts = torch.tensor([[[0.0, 1, 0], [0, 1, 0]], [[0, 2, 0], [0, 0, 0]]])  # up 2 / down 1 in the clip
    s = Sampler(model, SamplerConfig(steps=2, context=8, context_noise=0.05), 2, seeds=[1, 2])  # (no slide)
    s.reset(range(2), ctx, clip_acts, pitch=pitch)
    after_reset = s.pitch.tolist()
    out = [s.step(torch.tensor([[0.0, 1, 0], [0, 2, 0]]), use_cache=use_cache)[0] for _ in range(steps)]
    return after_reset, s.pitch.tolist(), torch.stack(out, 1)


def test_a_dream_carries_its_pitch_and_the_pitch_changes_what_it_draws():
    model = tiny()
    after_reset, after, cached = run(model, torch.tensor([0, 1]))
    assert after_reset == [2, 0] and after == [2, -2]  # the clip's actions, then every step's, clamped
    _, _, uncached = run(model, torch.tensor([0, 1]), use_cache=False)
    assert torch.allclose(cached, uncached, rtol=1e-4, atol=1e-4)  # the cache holds the pitch of each frame
    _, _, other = run(model, torch.tensor([-2, 1]))
    assert not torch.allclose(cached[0], other[0]) and torch.equal(cached[1], other[1])
    _, _, unknown = run(model, None)
    assert not torch.allclose(cached, unknown)
    _, _, out_of_range = run(model, torch.tensor([99, 99]))  # outside the limit: unknown
    assert torch.equal(unknown, out_of_range)


def test_training_windows_read_the_recorded_pitch_and_some_hide_it():
    from worldsim.data.dataset import FrameStore
    from worldsim.train.dit_batches import PitchWindows, with_pitch

    acts = np.zeros((20, 3), np.float32)
    acts[:, 1] = 1  # up every step: 0, 1, 2, 3, ... clamped at the voxel world's 12
    store = FrameStore(frames=np.zeros((20, 4, 4, 4), np.float16), ep_start=np.array([0, 20]), actions=acts,
                       rewards=np.zeros(20, np.float32), terminations=np.zeros(20, bool),
                       episode_ids=np.arange(1))  # fmt: skip
    assert PitchWindows.of(False, "worldsim/Voxel-v0", store, 0.1) is None
    with pytest.raises(ValueError, match="declares none"):
        PitchWindows.of(True, "CartPole-v1", store, 0.1)
    with pytest.raises(ValueError, match=r"pitch_drop must be in \[0, 1\]"):
        PitchWindows.of(True, "worldsim/Voxel-v0", store, 1.5)
    pw = PitchWindows.of(True, "worldsim/Voxel-v0", store, 0.0)
    batch = {"latents": torch.zeros(2, 4, 4, 4, 4)}
    # the voxel world's camera value 1 turns yaw, not pitch: the pitch stays level
    assert with_pitch(batch, pw, np.array([0, 14]), np.random.default_rng(0))["pitch"].tolist() == [[12] * 4] * 2
    acts[:, 1] = 3  # pitch up
    pw = PitchWindows.of(True, "worldsim/Voxel-v0", store, 0.0)
    got = with_pitch(batch, pw, np.array([0, 14]), np.random.default_rng(0))["pitch"]
    assert got.tolist() == [[12, 13, 14, 15], [24, 24, 24, 24]]  # pitch + limit; clamped at +12
    hidden = with_pitch(batch, PitchWindows(pw.rule, pw.track, 1.0), np.array([0, 14]), np.random.default_rng(0))
    assert (hidden["pitch"] == pw.rule.unknown).all()


def test_dream_envs_take_the_start_pitch_and_refuse_a_bad_one(tmp_path):
    import gymnasium as gym
    from conftest import build_tiny_world_model

    from worldsim.world_model import load_world_model

    wm = load_world_model(str(build_tiny_world_model(tmp_path / "wm", pitch=True)))
    assert wm.clips["pitch"].tolist() == [0, 3, -2]  # saved and loaded with the start clips
    env = gym.make("worldsim/Dream-v0", model=wm).unwrapped
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    env.reset(seed=0, options={"frames": frames, "actions": np.array([[0, 3, 0], [0, 3, 0]]), "pitch": 11})
    assert env.dream.sampler.pitch.tolist() == [12] and env.dream.sampler.pitch_known.tolist() == [True]
    env.step(np.array([0, 4, 0]))
    assert env.dream.sampler.pitch.tolist() == [11]
    env.reset(seed=0, options={"frames": frames, "actions": np.zeros((2, 3), np.int64)})
    assert env.dream.sampler.pitch_known.tolist() == [False]  # not given: unknown
    env.reset(seed=1)  # a shipped start clip: its own pitch, carried through the clip's actions
    rule = wm.dit.pitch_rule
    ends = set()
    for start, acts in zip(wm.clips["pitch"], wm.clips["actions"][:, :2]):
        p = torch.tensor(int(start))
        for a in torch.as_tensor(acts):
            p = rule.step(p, a)
        ends.add(int(p))
    assert env.dream.sampler.pitch.tolist()[0] in ends and env.dream.sampler.pitch_known.tolist() == [True]
    with pytest.raises(TypeError, match=r"options\['pitch'\] must be whole camera steps"):
        env.reset(options={"image": frames[0], "pitch": 1.5})
    with pytest.raises(ValueError, match=r"pitch must lie within \+-12 camera steps"):
        env.reset(options={"image": frames[0], "pitch": 13})
    with pytest.raises(ValueError, match=r"options\['pitch'\] goes with options frames, image or from_scratch"):
        env.reset(options={"pitch": 0})
    venv = gym.make_vec("worldsim/Dream-v0", num_envs=2, model=wm, vectorization_mode="vector_entry_point")
    venv.reset(seed=0, options={"image": frames[0], "pitch": -3, "reset_mask": np.array([False, True])})
    assert venv.unwrapped.dream.sampler.pitch.tolist()[1] == -3
