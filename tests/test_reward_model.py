"""The reward model: what it refuses, how it trains on a recording, and that a dream is paid by it."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from worldsim.checkpoint import CheckpointError, save_model
from worldsim.models.actions import space_to_json
from worldsim.models.reward_model import RewardModel, RewardModelConfig

VOXEL_ACTIONS = space_to_json(gym.spaces.MultiDiscrete([5, 5, 4]))


def _model(**kw) -> RewardModel:
    torch.manual_seed(0)
    return RewardModel(RewardModelConfig(action_space=VOXEL_ACTIONS, widths=(8, 8, 16), head_width=16, **kw)).eval()


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(reward_values=(1.0,)), "two or more"),
        (dict(reward_values=(1.0, 0.0)), "increasing"),
        (dict(reward_values=(0.0, float("nan"))), "finite"),
        (dict(resolution=(60, 64)), "multiples of 16"),
        (dict(action_space=None), "action space"),
        (dict(widths=(8, 8, 12)), "multiples of 8"),
    ],
)
def test_config_refuses_what_cannot_work(bad, words):
    cfg = {"action_space": VOXEL_ACTIONS, **bad}
    with pytest.raises(ValueError, match=words):
        RewardModelConfig(**cfg)


def test_predicts_one_of_its_values_per_transition_and_names_a_reward_it_does_not_know():
    m = _model()
    rng = np.random.default_rng(0)
    before, after = (rng.integers(0, 255, (5, 64, 64, 3), dtype=np.uint8) for _ in range(2))
    acts = rng.integers(0, 4, (5, 3)).astype(np.float32)
    assert m(before, after, acts).shape == (5, 3)
    pred = m.predict(before, after, acts)
    assert pred.shape == (5,) and set(pred.tolist()) <= {-1.0, 0.0, 1.0}
    loss, logs = m.loss(before, after, acts, np.array([0, 1, -1, 0, 0.0]))
    assert torch.isfinite(loss) and 0 <= logs["accuracy"] <= 1
    with pytest.raises(ValueError, match="reward 0.5 is not one of"):
        m.classes([0.0, 0.5])


@pytest.fixture(scope="module")
def explorer_recording(tmp_path_factory):
    """Explorer play that breaks logs (nonzero rewards), 64x64 like the tiny world model."""
    from worldsim.data.record import RecordConfig, record

    root = tmp_path_factory.mktemp("reward")
    record(RecordConfig(episodes=4, max_episode_steps=150, processes=1, envs_per_process=1, root=str(root / "minari"),
                        dataset_id="test/reward-v0", policies={"explorer": 0.5, "random": 0.5}, progress=False,
                        seed=1))  # fmt: skip
    return root


def test_train_reward_trains_scores_and_saves_a_checkpoint(explorer_recording, tmp_path):
    from worldsim.models.reward_model import load_reward_model
    from worldsim.train.train_reward import TrainRewardConfig, train_reward

    res = train_reward(TrainRewardConfig(dataset_id="test/reward-v0", root=str(explorer_recording / "minari"),
                                         run_dir=str(tmp_path / "rm"), steps=3, batch_size=8, warmup=1,
                                         progress=False, threads=1))  # fmt: skip
    assert res["pools"]["paid"] > 0 and res["pools"]["hard"] > 0  # logs broken; break pressed at other blocks
    assert res["held_out_reward"]["transitions"] > 0 and res["steps"] == 3
    m = load_reward_model(tmp_path / "rm" / "model.safetensors")
    assert m.cfg.reward_values == (0.0, 1.0) or -1.0 in m.cfg.reward_values  # the recording's distinct rewards
    with pytest.raises(ValueError, match="sum to at most 1"):
        TrainRewardConfig(event_share=0.6, hard_share=0.6)


def test_a_dream_is_paid_by_the_world_models_reward_model(tiny_world_model, tmp_path):
    from worldsim.dream import Dream
    from worldsim.world_model import load_world_model

    m = _model()
    save_model(tmp_path / "reward.safetensors", "reward", m.cfg, m.state_dict())
    wm = load_world_model(tiny_world_model, reward=str(tmp_path / "reward.safetensors"))
    assert wm.reward_model is not None and load_world_model(tiny_world_model).reward_model is None
    dream = Dream(wm, batch=2, seeds=[0, 1])
    clips = wm.clips["frames"][:2]
    dream.start([0, 1], clips, wm.clips["actions"][:2])
    acts = np.array([[1, 0, 2], [0, 3, 3]])
    out = dream.step(acts)
    expected = wm.reward_model.predict(clips[:, -1], out.frames, acts.astype(np.float32))
    np.testing.assert_array_equal(out.reward, expected)  # what changed from the start clip's last frame
    nxt = dream.step(acts, decode=False)
    assert nxt.frames is None  # decoded for the reward model, not handed back
    dream.start([1], None)  # from nothing: no frame before, no reward
    assert dream.step(acts).reward[1] == 0.0
    # saved into the folder, it comes back with the world model; reward=False pays with the DiT's head again
    wm.save(tmp_path / "wm", dtype=None)
    assert (tmp_path / "wm" / "reward.safetensors").is_file()
    assert load_world_model(str(tmp_path / "wm")).reward_model is not None
    assert load_world_model(str(tmp_path / "wm"), reward=False).reward_model is None


def test_a_reward_model_of_another_world_is_refused_by_name(tiny_world_model, tmp_path):
    from worldsim.world_model import load_world_model

    other = RewardModel(RewardModelConfig(resolution=(32, 32), action_space=VOXEL_ACTIONS, widths=(8, 8, 8),
                                          head_width=8))  # fmt: skip
    save_model(tmp_path / "small.safetensors", "reward", other.cfg, other.state_dict())
    with pytest.raises(CheckpointError, match=r"small.safetensors reads frames of \(32, 32\)"):
        load_world_model(tiny_world_model, reward=str(tmp_path / "small.safetensors"))
    discrete = RewardModel(RewardModelConfig(action_space=space_to_json(gym.spaces.Discrete(3)), widths=(8, 8, 8),
                                             head_width=8))  # fmt: skip
    save_model(tmp_path / "d.safetensors", "reward", discrete.cfg, discrete.state_dict())
    with pytest.raises(CheckpointError, match="trained on actions of Discrete"):
        load_world_model(tiny_world_model, reward=str(tmp_path / "d.safetensors"))
    with pytest.raises(FileNotFoundError, match="no reward model"):
        load_world_model(tiny_world_model, reward=str(tmp_path / "absent"))
