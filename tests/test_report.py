"""The report card: each metric on cases whose answer is known, the IDM, and the whole card on a tiny model."""

import json

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401
from worldsim.eval import report as card
from worldsim.eval import rewards
from worldsim.eval.world_metrics import (
    box_blur,
    class_agreement,
    colour_classes,
    colour_js,
    frechet_distance,
    persistence,
    sharpness,
)


@pytest.fixture(scope="module")
def real_play():
    frames, actions = card._real_rollout(3, (64, 64, 3), 4, 60)
    return frames, actions


def test_the_real_world_scores_the_ceiling_and_a_blur_or_a_still_scores_worse(real_play):
    frames, _ = real_play
    a, b = frames[:32], frames[32:]
    assert sharpness(a) / sharpness(a) == 1.0 and colour_js(a, a) == 0.0
    blurred = box_blur(a)
    assert sharpness(blurred) < 0.8 * sharpness(a)  # a blur loses the edges
    assert colour_js(blurred, a) > colour_js(a, a)
    still = np.repeat(a[:1], len(a), 0)
    assert colour_js(still, b) > colour_js(a, b) * 0.5  # one frame's colours are not the world's
    rng = np.random.default_rng(0)
    f = rng.standard_normal((200, 8))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(f, f + 3.0) == pytest.approx(8 * 9.0, rel=1e-3)  # shifted means: |mu_a - mu_b|^2


def test_colour_classes_read_the_voxel_world_as_its_ground_truth_says(real_play):
    env = gym.make("worldsim/Voxel-v0")
    env.reset(seed=5)
    frames, truth = [], []
    for a in real_play[1][:20]:
        obs, *_ = env.step(a)
        frames.append(obs)
        truth.append(env.unwrapped.block_classes())
    frames, truth = np.stack(frames), np.stack(truth)
    assert class_agreement(frames, truth).mean() > 0.8
    grey = np.full_like(frames, 128)
    assert class_agreement(grey, truth).mean() < 0.5  # a constant frame does not keep the blocks that were there
    assert colour_classes(frames).shape == truth.shape


def test_persistence_tells_a_kept_change_from_a_forgotten_one():
    rng = np.random.default_rng(0)
    without = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    with_change = without.copy()
    with_change[4:8, 4:8] = 255 - with_change[4:8, 4:8]  # the broken block
    assert persistence(with_change, with_change, without) == 1.0
    assert persistence(without, with_change, without) == 0.0
    assert persistence(without, without, without) is None  # nothing changed: nothing to score


@pytest.mark.parametrize("settle", [0, 12])
def test_memory_probe_scripts_return_to_where_they_started(settle):
    plain = card._scripts(quick=False)
    for name, sc in card._scripts(quick=False, settle=settle).items():
        acts = np.asarray(sc["actions"])
        cam = acts[:, 1]
        yaw = np.cumsum(5 * ((cam == 2).astype(int) - (cam == 1)))  # after each step
        # the camera ends facing where it faced at the start, or where the change (a break, a placed block) was made
        assert yaw[-1] % 360 == (yaw[sc["change"]] if "change" in sc else 0) % 360, name
        assert 0 < sc["back"] < len(sc["actions"])
        # settling: the player stands still first, then the same probe, every index shifted by as much
        assert sc["away"] == settle and not acts[:settle].any() and (acts[settle:] == plain[name]["actions"]).all()
        assert sc["back"] - plain[name]["back"] == settle
        assert ("change" in sc) == ("change" in plain[name])
        assert "change" not in sc or sc["change"] - plain[name]["change"] == settle


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from worldsim.data.record import RecordConfig, record
    from worldsim.train.train_idm import TrainIDMConfig, train_idm

    root = tmp_path_factory.mktemp("report")
    record(RecordConfig(episodes=4, max_episode_steps=40, processes=1, envs_per_process=1, root=str(root / "minari"),
                        dataset_id="test/report-v0", policies={"random": 1.0}, progress=False))  # fmt: skip
    res = train_idm(TrainIDMConfig(dataset_id="test/report-v0", root=str(root / "minari"), run_dir=str(root / "idm"),
                                   steps=3, batch_size=4, warmup=1, eval_transitions=16, progress=False,
                                   threads=1))  # fmt: skip
    assert set(res["held_out_accuracy"]) == {"column 0", "column 1", "column 2"}
    return root


def test_report_card_on_a_tiny_model_is_whole_and_deterministic(tiny_world_model, tiny_data, tmp_path):
    kwargs = dict(model=tiny_world_model, dataset_id="test/report-v0", root=str(tiny_data / "minari"),
                  idm=str(tiny_data / "idm" / "model.safetensors"), quick=True, clips=2, horizon=4, long_steps=64,
                  long_starts=2, memory_starts=1, seed=3)  # fmt: skip
    a = card.report(out=str(tmp_path / "a"), **kwargs)
    card.report(out=str(tmp_path / "b"), **kwargs)
    ja, jb = (json.loads((tmp_path / d / "report.json").read_text()) for d in "ab")
    ja.pop("seconds"), jb.pop("seconds")
    assert ja == jb  # the same seed, the same card
    assert (tmp_path / "a" / "report.png").stat().st_size > 20_000
    h = ja["horizon"]["random"]
    assert len(h["psnr"]) == len(h["ssim"]) == len(h["psnr_copy_last"]) == 4
    assert set(h["idm_dream"]) == set(h["idm_real"]) == {"column 0", "column 1", "column 2"}
    assert "horizon_explorer" in ja["skipped"]  # no held-out episode of the explorer in this recording
    bucket = ja["long"]["buckets"][0]
    assert bucket["real_other_seed"]["sharpness_ratio"] > 0 and "frechet" in bucket["dream"]
    assert bucket["copy_first_frame"]["colour_js"] > 0
    mem = ja["memory"]
    assert {"loop_360", "walk_out_and_back", "look_away_8", "break_look_away", "place_look_away"} <= set(mem)
    assert mem["loop_360"]["real"]["class_agreement"] > 0.7  # the classifier reads the real end frame
    assert "loop_360_psnr" in a and np.isfinite(a["loop_360_psnr"])
    per_start = mem["loop_360"]["dream"]["psnr_by_start"]  # each start's reading, and the error of their mean
    assert len(per_start) == 1 and abs(per_start[0] - a["loop_360_psnr"]) < 0.1
    assert a["loop_360_psnr_se"] is None  # one start has no error to give
    assert set(a["permanence_scores_se"]) == set(a["permanence_scores"])
    # the start clip's last view through the VAE: a perfect memory's reading; the dream looking back shows just that
    assert set(a["permanence_last_seen_scores"]) == set(a["permanence_scores"])
    seen = mem["look_away_8"]["last_seen"]
    assert len(seen["psnr_by_start"]) == 1 and seen["psnr"] == pytest.approx(mem["look_away_8"]["dream"]["psnr"])
    still = ja["still"]  # doing nothing: the real world stays put, the dream is scored against it
    assert still["at"] == [1, 8, 16] and len(still["dream_psnr"]) == len(still["dream_contrast_over_real"]) == 3
    # the oracle bounds the dream; with the view memory a dream standing still shows its start frame, the oracle
    assert min(still["real_vs_context_psnr"][1:]) > 40 and min(still["oracle_vae_psnr"]) >= still["dream_psnr"][-1]
    assert set(a["still_psnr"]) == {"1", "8", "16"}
    rewards = ja["rewards"]
    for where in ("real", "dream"):
        assert rewards[where]["reward"]["transitions"] > 0 and "recall" in rewards[where]["termination"]
    assert set(a["reward_precision_recall"]) == {"real", "dream"}
    assert "held_break" in ja
    assert set(ja["random_play"]["bands"]) == {"down", "level", "up"} and "random_play_sky" in a
    assert {"water", "land"} <= set(ja["swim"]) and ja["swim"]["land"]["starts"] > 0


def test_random_play_part_scores_both_worlds_by_the_real_cameras_pitch(tiny_world_model):
    from worldsim.eval.random_play import random_play_part, random_play_summary
    from worldsim.world_model import load_world_model

    wm = load_world_model(tiny_world_model)
    out = random_play_part(wm, card.VOXEL, starts=2, steps=150, seed=0, worlds=card.WORLDS)
    bands = out["bands"]
    assert sum(b["all"]["frames"] for b in bands.values()) == 2 * 150  # every frame in one band
    assert all(sum(t["frames"] for t in b["thirds"]) == b["all"]["frames"] for b in bands.values())
    seen = [b["all"] for b in bands.values() if b["all"]["frames"]]
    assert len(seen) >= 2 and all(0 <= r["sky_real"] <= 1 and 0 <= r["sky_dream"] <= 1 for r in seen)
    if bands["down"]["all"]["frames"] and bands["up"]["all"]["frames"]:  # the real world: sky above, ground below
        assert bands["down"]["all"]["sky_real"] < bands["up"]["all"]["sky_real"]
    assert len(out["brightness_by_third"]["dream"]) == 3
    s = random_play_summary(out)
    assert set(s["random_play_sky"]) == {"down", "level", "up"} and len(s["random_play_brightness_last"]) == 2
    assert s["random_play_brightness_last_se"] > 0  # two starts differ: the noise of the brightness gap
    again = random_play_part(wm, card.VOXEL, starts=2, steps=150, seed=0, worlds=card.WORLDS)
    assert card._public(again) == card._public(out)  # the same seed, the same part
    assert all(np.array_equal(a, b) for a, b in zip(again["_frames"], out["_frames"]))


def test_memory_probes_after_settling_bring_back_the_dreams_own_view(tiny_world_model):
    """With ``memory_settle`` the player stands still first; the view memory then brings back what the dream itself
    showed before turning (its own draw of the settled view), which the probe reports beside the real one."""
    from worldsim.world_model import load_world_model

    wm = load_world_model(tiny_world_model)
    mem = card.memory_part(wm, starts=1, seed=0, quick=True, settle=12)
    row = mem["look_away_8"]
    assert row["settle"] == 12 and row["steps"] == 12 + 18 + 8 + 18
    assert row["dream"]["psnr"] == pytest.approx(row["dream_seen"]["psnr"], abs=1e-3)
    assert row["dream_seen_score"] == pytest.approx(row["score"], abs=1e-3)
    assert len(row["last_seen"]["psnr_by_start"]) == 1 and np.isfinite(row["last_seen"]["psnr"])


def test_swim_part_dreams_from_where_random_play_swims_and_from_land(tiny_world_model):
    from worldsim.eval.swim import swim_part, swim_summary
    from worldsim.world_model import load_world_model

    wm = load_world_model(tiny_world_model)
    out = swim_part(wm, card.VOXEL, runs=4, steps=800, horizon=8, max_starts=2, seed=0, worlds=card.WORLDS)
    assert out["at"] == [1, 5, 8]
    for key in ("water", "land"):  # these worlds swim and walk within 800 random steps
        g = out[key]
        assert g["starts"] == 2 and len(g["psnr"]) == len(g["psnr_copy_last"]) == 3
        assert all(0 <= g[f"{what}_share_last"][w] <= 1 for what in ("water", "tree") for w in ("real", "dream"))
    s = swim_summary(out)
    assert set(s) == {f"swim_{k}_{m}" for k in ("water", "land") for m in ("gain_over_copy_last", "tree_share_last")}
    again = swim_part(wm, card.VOXEL, runs=4, steps=800, horizon=8, max_starts=2, seed=0, worlds=card.WORLDS)
    assert again == out  # deterministic under the seed
    with pytest.raises(ValueError, match="horizon must be at least 5 steps, got 4"):
        swim_part(wm, card.VOXEL, runs=1, steps=50, horizon=4, max_starts=1, seed=0, worlds=card.WORLDS)


def test_two_seeds_of_the_card_share_no_world(monkeypatch):
    """Seed s plays worlds from WORLDS + seed_base(s) on: a second seed is a second sample, not the first shifted."""
    from types import SimpleNamespace

    from worldsim.eval import long_run

    assert long_run.seed_base(0) == 0 and long_run.seed_base(2) == 2 * long_run.SEED_STRIDE
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            long_run.seed_base(bad)

    class Played(Exception):
        pass

    played = []

    def fake_rollout(seed, shape, ctx, steps):
        played.append(seed)
        if len(played) % 16 == 0:  # the 8 starts and the 8 other real rollouts of one seed
            raise Played
        return np.zeros((ctx + steps, *shape), np.uint8), None

    monkeypatch.setattr(long_run, "_real_rollout", fake_rollout)
    wm = SimpleNamespace(window=48, frame_shape=(64, 64, 3))
    for seed in (0, 1):
        with pytest.raises(Played):
            long_run.long_part(wm, None, 8, 64, seed)
    assert played[:8] == [long_run.WORLDS + i for i in range(8)]  # seed 0 plays what it always played
    assert not set(played[:16]) & set(played[16:])


def test_held_break_probe_pays_the_real_log_once_and_reads_the_dreams_reward(tiny_world_model):
    from worldsim.world_model import load_world_model

    wm = load_world_model(tiny_world_model)
    out = rewards.held_break_part(wm, card.VOXEL, clips=2, hold=4, seed=0, worlds=card.WORLDS)
    assert out["clips"] == 2 and out["real_per_step"][0] == 1.0  # the first press breaks the log under the crosshair
    assert len(out["real_per_step"]) == len(out["dream_per_step"]) == 4
    assert np.isfinite(out["dream_return"]) and out["real_return"] <= 4


def test_reward_precision_and_recall_count_a_hit_only_for_the_right_nonzero_value():
    truth = np.array([0, 1, 0, -1, 1, 0])
    s = rewards.event_scores(np.array([0, 1, 1, 1, 0, 0]), truth)  # one right, one false alarm, one wrong sign
    assert (s["hits"], s["predicted"], s["real"]) == (1, 3, 3)
    assert s["precision"] == pytest.approx(1 / 3, abs=1e-4) and s["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert rewards.event_scores(np.zeros(6), truth)["precision"] is None  # never says a reward: no precision
    # a regressed reward reads as the nearest of the world's values: noise around 0 stays 0
    assert rewards.snap(np.array([0.2, -0.7, 0.9]), np.array([-1.0, 0.0, 1.0])).tolist() == [0.0, -1.0, 1.0]


def test_report_on_another_world_says_what_it_skipped(tmp_path):
    import torch

    from worldsim.models.actions import space_to_json
    from worldsim.models.dit import PRESETS, DiT, DiTConfig
    from worldsim.models.vae import VAE, VAEConfig
    from worldsim.sampler import SamplerConfig
    from worldsim.world_model import WorldModel

    torch.manual_seed(0)
    vae = VAE(VAEConfig(resolution=(32, 32), latent_channels=4, downsample=8, widths=[8, 8, 8],
                        decoder_widths=[8, 8, 8]))  # fmt: skip
    dit = DiT(DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(gym.spaces.Discrete(3)),
                        **PRESETS["tiny"]))  # fmt: skip
    WorldModel(vae.eval(), dit.eval(), SamplerConfig(steps=1, context=2), window=3,
               info={"dataset_id": "test/absent-v0"}).save(tmp_path / "wm", dtype=None)  # fmt: skip
    card.report(model=str(tmp_path / "wm"), root=str(tmp_path), quick=True, out=str(tmp_path / "out"))
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {"voxel_world", "idm", "horizon_random", "horizon_explorer"} <= set(r["skipped"])
    assert "long" not in r and "memory" not in r


def test_report_takes_the_samplers_settings_and_refuses_bad_ones(tiny_world_model, tmp_path):
    with pytest.raises(ValueError, match=r"context_noise must be in \[0, 1\), got 1.5"):
        card.report(model=tiny_world_model, context_noise=1.5, quick=True, out=str(tmp_path))
    with pytest.raises(ValueError, match="sampler steps must be 1 to 8, got 9"):
        card.report(model=tiny_world_model, sampler_steps=9, quick=True, out=str(tmp_path))
    with pytest.raises(ValueError, match="memory_settle must be a whole number of steps >= 0, got -1"):
        card.report(model=tiny_world_model, memory_settle=-1, quick=True, out=str(tmp_path))


def test_report_runs_the_parts_asked_for_and_refuses_unknown_ones(tiny_world_model, tmp_path):
    out = card.report(model=tiny_world_model, quick=True, long_steps=64, long_starts=1, parts=["long"],
                      out=str(tmp_path / "long"), seed=2)  # fmt: skip
    r = json.loads((tmp_path / "long" / "report.json").read_text())
    assert r["parts"] == ["long"] and "long" in r
    assert not r["horizon"] and not {"rewards", "memory", "still", "held_break", "random_play", "swim"} & set(r)
    mean = out["long_mean"]  # the buckets' mean, the figure the README's long-dream rows quote
    assert set(mean) == {"sharpness_ratio", "colour_js", "frechet"}  # the shipped IDM reads this 64x64 world
    assert mean["colour_js"] == pytest.approx(r["long"]["buckets"][0]["dream"]["colour_js"], abs=1e-3)
    with pytest.raises(ValueError, match=r"report parts must be a non-empty list of .*got \['lung'\]"):
        card.report(model=tiny_world_model, parts=["lung"], out=str(tmp_path))
    with pytest.raises(TypeError, match="report parts must be a list of names"):
        card.report(model=tiny_world_model, parts="long", out=str(tmp_path))


def test_long_part_error_is_a_paired_bootstrap_over_the_starts():
    from worldsim.eval.long_run import BUCKET, mean_se

    rng = np.random.default_rng(0)
    real = rng.integers(0, 255, (4, 2 * BUCKET, 8, 8, 3), dtype=np.uint8)
    same = mean_se(real, real, [], seed=0)  # a dream that is the world: every draw reads 0 and 1
    assert same == {"sharpness_ratio": 0.0, "colour_js": 0.0}
    dream = real.copy()
    dream[1] //= 2  # one start darker and flatter than its world: the draws differ by how often they hold it
    feats = [(rng.normal(size=(4, BUCKET, 3)), rng.normal(size=(4, BUCKET, 3))) for _ in range(2)]
    se = mean_se(dream, real, feats, seed=0)
    assert se["colour_js"] > 0 and se["sharpness_ratio"] > 0 and se["frechet"] > 0
    assert se == mean_se(dream, real, feats, seed=0) and mean_se(dream[:1], real[:1], [], seed=0) == {}
