"""`worldsim select`: a run's snapshots exported as they would ship, scored by the report card, one picked."""

import json
import shutil

import pytest
import torch

from worldsim.checkpoint import load_model, save_model
from worldsim.eval import select as sel


def fake_run(tiny_world_model, tmp_path, steps=(10, 20), final=30):
    """A DiT training run of the tiny world model's DiT: snapshots at ``steps``, its final model at ``final``."""
    cfg, state, extra = load_model(f"{tiny_world_model}/dit.safetensors", "dit")
    extra["info"]["vae_file"] = f"{tiny_world_model}/vae.safetensors"
    run = tmp_path / "run"
    (run / "snapshots").mkdir(parents=True)
    for i, step in enumerate([*steps, final]):
        gen = torch.Generator().manual_seed(i)
        weights = {k: v + 0.01 * i * torch.randn(v.shape, generator=gen) for k, v in state.items()}
        info = {**extra["info"], "step": step, "env_id": "worldsim/Voxel-v0"}
        where = run / "model.safetensors" if step == final else run / "snapshots" / f"step-{step:07d}.safetensors"
        save_model(where, "dit", cfg, weights, extra={**extra, "info": info})
    return run


def test_snapshots_lists_every_step_and_the_final_model_once(tiny_world_model, tmp_path):
    run = fake_run(tiny_world_model, tmp_path)
    found = sel.snapshots(run)
    assert list(found) == ["step-0000010", "step-0000020", "step-0000030"]
    assert found["step-0000030"].name == "model.safetensors"
    shutil.copy(found["step-0000030"], run / "snapshots" / "step-0000030.safetensors")  # the run's last snapshot
    assert sel.snapshots(run)["step-0000030"].parent.name == "snapshots"
    with pytest.raises(FileNotFoundError, match="holds no snapshots"):
        sel.snapshots(tmp_path / "run" / "snapshots")
    with pytest.raises(FileNotFoundError, match="not a training run"):
        sel.snapshots(tmp_path / "nowhere")


def test_select_ranks_every_measure_and_picks_the_least_rank_sum(tiny_world_model, tmp_path, monkeypatch):
    """Scores stubbed by candidate (the card itself is tested in test_report.py): step 20 is nearest the real world
    on three measures of five, and is picked; a second call scores nothing again."""
    gaps = {"step-0000010": (9, 0.1, 0.30, 0.40, 0.20), "step-0000020": (2, 0.3, 0.10, 0.20, 0.25),
            "step-0000030": (5, 0.2, 0.20, 0.30, 0.10), "baseline": (1, 0.05, 0.05, 0.10, 0.05)}  # fmt: skip
    calls = []

    def card(model, parts, seed, threads, out, **kw):
        calls.append(model)
        name = "baseline" if model == tiny_world_model else model.rsplit("/", 1)[-1]
        b, s, js, fr, sh = gaps[name]
        return {"random_play_brightness_last": [100.0, 100.0 + b], "random_play_sky": {"up": [0.8, 0.8 - s]},
                "long_mean": {"colour_js": js, "frechet": fr, "sharpness_ratio": 1 - sh}}  # fmt: skip

    monkeypatch.setattr("worldsim.eval.report.report", card)
    run, out = fake_run(tiny_world_model, tmp_path), tmp_path / "select"
    kwargs = dict(clips_from=tiny_world_model, baselines=[tiny_world_model], seeds=[0, 1])
    res = sel.select(str(run), str(out), **kwargs)
    assert res["pick"] == "step-0000020" and res["beaten_by_baseline"] == [f"baseline:{tiny_world_model}"]
    table = json.loads((out / "select.json").read_text())
    assert table["ranks"]["step-0000020"] == {"brightness": 2, "sky": 4, "colour_js": 2, "frechet": 2, "sharpness": 4}
    assert table["table"]["step-0000010"]["brightness"] == 9 and len(calls) == 8  # 4 candidates x 2 seeds
    exported = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert exported == ["reports", "step-0000010", "step-0000020", "step-0000030"]  # the baseline is not exported
    assert (out / "step-0000020" / "clips.npz").is_file()  # as it would ship: the start clips of clips_from
    assert sel.select(str(run), str(out), **kwargs)["pick"] == "step-0000020" and len(calls) == 8
    assert sel.select(str(run), str(out), **kwargs, report={"long_starts": None})["pick"] == "step-0000020"  # (null:
    assert len(calls) == 8  # the card's own, as before)
    with pytest.raises(ValueError, match="scored with"):  # other settings into the same out
        sel.select(str(run), str(out), **kwargs, std_floor=0.1)
    with pytest.raises(ValueError, match=r"\['step-0000015'\] are not in"):
        sel.select(str(run), str(tmp_path / "other"), steps=[15])
    with pytest.raises(ValueError, match="none of them is measured"):
        sel.select(str(run), str(tmp_path / "other"), parts=["memory"])


def test_select_scores_a_snapshot_with_the_real_card(tiny_world_model, tmp_path):
    run = fake_run(tiny_world_model, tmp_path, steps=(10,), final=20)
    res = sel.select(str(run), str(tmp_path / "select"), clips_from=tiny_world_model, parts=["random_play"],
                     steps=[20], threads=1, report={"quick": True})  # fmt: skip
    table = json.loads((tmp_path / "select" / "select.json").read_text())
    assert res["pick"] == "step-0000020" and list(table["table"]) == ["step-0000020"]
    row = table["table"]["step-0000020"]
    assert set(table["measures"]) == {"brightness", "sky"} and row["brightness"] >= 0 and row["brightness_se"] > 0


def test_averages_add_the_mean_of_the_last_snapshots(tiny_world_model, tmp_path, monkeypatch):
    from worldsim.checkpoint import CheckpointError

    run = fake_run(tiny_world_model, tmp_path)
    found = sel.snapshots(run)
    mean = sel.average_snapshots(list(found.values())[-2:], tmp_path / "mean.safetensors")
    _, w, extra = load_model(mean, "dit")
    _, a, _ = load_model(found["step-0000020"], "dit")
    _, b, _ = load_model(found["step-0000030"], "dit")
    assert all(torch.allclose(w[k], (a[k] + b[k]) / 2, atol=1e-6) for k in w)
    assert extra["info"]["averaged"] == ["step-0000020.safetensors", "model.safetensors"]
    cfg, state, extra = load_model(found["step-0000010"], "dit")
    save_model(tmp_path / "other.safetensors", "dit", {**cfg, "rope_theta": 100.0}, state, extra=extra)
    with pytest.raises(CheckpointError, match="another config"):
        sel.average_snapshots([found["step-0000010"], tmp_path / "other.safetensors"], tmp_path / "x.safetensors")

    def card(model, out, **kw):
        return {"random_play_brightness_last": [100.0, 110.0 if "mean" in model else 120.0],
                "random_play_brightness_last_se": 4.0, "random_play_sky": {"up": [0.8, 0.7]}}  # fmt: skip

    monkeypatch.setattr("worldsim.eval.report.report", card)
    res = sel.select(str(run), str(tmp_path / "select"), clips_from=tiny_world_model, parts=["random_play"],
                     averages=[3])  # fmt: skip
    assert res["pick"] == "mean3-step-0000030" and set(res["rank_sum"]) == {*found, "mean3-step-0000030"}
    assert res["within_noise"] == {"brightness": list(found)}  # 10 apart, each +-4: not told apart at two errors
    _, shipped, _ = load_model(tmp_path / "select" / "mean3-step-0000030" / "dit.safetensors", "dit")
    _, c, _ = load_model(found["step-0000010"], "dit")
    assert all(torch.allclose(shipped[k], (a[k] + b[k] + c[k]) / 3, atol=2e-3) for k in w)  # as it ships: fp16
    with pytest.raises(ValueError, match="averages: each must be 2 to the 3 snapshots"):
        sel.select(str(run), str(tmp_path / "select"), clips_from=tiny_world_model, parts=["random_play"],
                   averages=[4])  # fmt: skip
