"""The whole chain on a tiny world: record -> VAE -> latent cache -> DiT -> world model -> dream."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import worldsim  # noqa: F401
from worldsim.checkpoint import CheckpointError, load_model, save_model
from worldsim.data.latents import build_latent_cache, open_latent_cache, window_batch
from worldsim.data.record import RecordConfig, record
from worldsim.diffusion import DiffusionConfig
from worldsim.models.vae import VAEConfig
from worldsim.sampler import SamplerConfig
from worldsim.train.train_dit import TrainDiTConfig, train_dit
from worldsim.train.train_vae import TrainVAEConfig, train_vae
from worldsim.world_model import load_world_model

TINY_VAE = VAEConfig(resolution=(16, 16), latent_channels=4, downsample=4, widths=[8, 16], decoder_widths=[8, 16])


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    record(RecordConfig(episodes=4, max_episode_steps=24, processes=1, envs_per_process=2, root=str(root / "minari"),
                        dataset_id="test/tiny-v0", env_kwargs={"width": 16, "height": 16}, progress=False))  # fmt: skip
    train_vae(TrainVAEConfig(dataset_id="test/tiny-v0", root=str(root / "minari"), run_dir=str(root / "vae"), steps=20,
                             batch_size=8, eval_every=1000, ckpt_every=10, eval_frames=8, progress=False, threads=1,
                             arch=TINY_VAE))  # fmt: skip
    build_latent_cache(
        "test/tiny-v0", str(root / "vae"), str(root / "latents"), root=str(root / "minari"), progress=False
    )
    return root


def dit_cfg(root, run, steps):
    return TrainDiTConfig(latents=str(root / "latents"), vae=str(root / "vae"), run_dir=str(run), dit="tiny", window=4,
                          steps=steps, batch_size=4, warmup=2, log_every=2, sample_every=1000, ckpt_every=3,
                          progress=False, threads=1, diffusion=DiffusionConfig(),
                          sampler=SamplerConfig(steps=2, context=3))  # fmt: skip


def test_latent_cache_layout(chain):
    store, meta = open_latent_cache(chain / "latents")
    assert store.frames.shape == (4 * 25, 4, 4, 4) and store.frames.dtype == np.float16
    assert meta["episodes"] == 4 and len(meta["eval_episodes"]) == 1
    w = window_batch(store, np.array([0, 30]), 4)
    assert w["latents"].shape == (2, 4, 4, 4, 4) and not w["has_action"][:, 0].any() and w["has_action"][:, 1:].all()
    # the action into frame j of a window is the one recorded after frame j - 1
    assert torch.equal(w["actions"][0, 1], torch.from_numpy(store.actions[0]))
    with pytest.raises(ValueError, match="another VAE"):
        open_latent_cache(chain / "latents", vae_sha256="0" * 64)


def test_dit_trains_resumes_exactly_and_loads_as_a_world_model(chain, tmp_path):
    a = train_dit(replace(dit_cfg(chain, tmp_path / "a", 6), snapshot_every=4))
    train_dit(dit_cfg(chain, tmp_path / "b", 3))
    b = train_dit(dit_cfg(chain, tmp_path / "b", 6))
    assert a["step"] == b["step"] == 6 and np.isfinite(a["loss"])
    _, wa, _ = load_model(tmp_path / "a" / "model.safetensors", "dit")
    _, wb, _ = load_model(tmp_path / "b" / "model.safetensors", "dit")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # (snapshots change nothing of the run)
    assert [p.name for p in (tmp_path / "a" / "snapshots").iterdir()] == ["step-0000004.safetensors"]
    _, w4, extra4 = load_model(tmp_path / "a" / "snapshots" / "step-0000004.safetensors", "dit")
    assert extra4["info"]["step"] == 4 and not all(torch.equal(wa[k], w4[k]) for k in wa)
    raw = load_file(tmp_path / "a" / "snapshots" / "step-0000004.safetensors")
    assert {v.dtype for v in raw.values() if v.is_floating_point()} == {torch.float16}  # as a model ships
    assert load_world_model(str(tmp_path / "a" / "snapshots" / "step-0000004.safetensors")).window == 4

    wm = load_world_model(str(tmp_path / "a"))
    assert wm.frame_shape == (16, 16, 3) and wm.window == 4
    s = wm.sampler(batch=2, seeds=[0, 1])
    store, _ = open_latent_cache(chain / "latents")
    w = window_batch(store, np.array([0, 25]), 3)
    s.reset([0, 1], w["latents"], w["actions"][:, 1:])
    z, r, p = s.step(wm.flat_actions(np.array([[1, 0, 0], [0, 1, 3]])))
    frames = wm.decode(z)
    assert frames.shape == (2, 16, 16, 3) and frames.dtype == np.uint8
    with pytest.raises(ValueError, match="outside the action space"):
        wm.flat_actions(np.array([[9, 0, 0]]))
    runs = wm.flat_action_runs(np.array([[[1, 0, 0], [0, 1, 3], [2, 4, 1]]] * 2))  # (dreams, steps, 3)
    assert runs.shape == (2, 3, 3) and torch.equal(runs[1, 1], torch.tensor([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match=r"runs \(dreams, steps"):
        wm.flat_action_runs(np.array([1, 0, 0]))
    with pytest.raises(ValueError, match="exceeds"):
        wm.sampler(context=9)

    shipped = wm.save(tmp_path / "export")
    again = load_world_model(str(shipped))
    assert again.window == 4 and again.dit.cfg == wm.dit.cfg


def test_resume_with_another_dit_config_is_refused(chain, tmp_path):
    train_dit(dit_cfg(chain, tmp_path, 3))
    other = dit_cfg(chain, tmp_path, 6)
    other.dit = "cpu"
    with pytest.raises(CheckpointError, match="holds a DiT with config"):
        train_dit(other)
    longer = replace(dit_cfg(chain, tmp_path, 6), window=5)  # same DiT, longer windows: not that run
    with pytest.raises(CheckpointError, match=r"trains on 4-frame windows, not window=5: pass window=4"):
        train_dit(longer)


def test_missing_world_model_is_named():
    with pytest.raises(FileNotFoundError, match="no world model"):
        load_world_model("no-such-model")


def test_eval_export_and_bench_on_the_tiny_chain(chain, tmp_path):
    from worldsim.eval.fidelity import evaluate_fidelity
    from worldsim.eval.speed import bench_sampler, bench_vae
    from worldsim.export import export_world_model

    train_dit(dit_cfg(chain, tmp_path / "run", 4))
    res = evaluate_fidelity(str(tmp_path / "run"), root=str(chain / "minari"), horizon=4, clips=3,
                            out=str(tmp_path / "eval"), eval_fraction=0.25, oracle_shift=2,
                            oracle_visible=True)  # fmt: skip
    assert {"next_frame_psnr", "action_gap_at_8", "gain_over_copy_at_8", "vae_ceiling"} <= set(res)
    assert res["best_shift_next_frame"] >= res["copy_last_next_frame"]  # no shift is among the candidates
    # what the context showed, drawn exactly, beats copying the last frame (the held-out episodes were replayed)
    assert 0 <= res["unseen_fraction_next_frame"] < 1
    assert res["seen_exact_mean_rest_next_frame"] >= res["copy_last_next_frame"]
    assert (tmp_path / "eval" / "fidelity.png").stat().st_size > 1000
    full = __import__("json").loads((tmp_path / "eval" / "fidelity.json").read_text())
    assert len(full["psnr"]) == len(full["psnr_copy_last"]) == len(full["psnr_wrong_actions"]) == 4
    assert len(full["psnr_copy_last_latent"]) == 4
    by_action = full["next_frame_by_action"]  # split by each column's value of the MultiDiscrete action
    assert sum(v["clips"] for k, v in by_action.items() if k.startswith("column 1 ")) == 3
    assert {"dream", "copy_last", "vae_ceiling"} <= set(next(iter(by_action.values())))

    exp = export_world_model(str(tmp_path / "run"), str(tmp_path / "wm"), root=str(chain / "minari"), clips=2,
                             clip_length=5, eval_fraction=0.25)  # fmt: skip
    wm = load_world_model(exp["out"])
    assert wm.clips["frames"].shape == (2, 5, 16, 16, 3) and wm.clips["actions"].shape == (2, 4, 3)
    assert next(wm.dit.parameters()).dtype == torch.float32  # fp16 on disk, fp32 to run
    full_context = export_world_model(str(tmp_path / "run"), str(tmp_path / "wm-window"), root=str(chain / "minari"),
                                      clips=2, eval_fraction=0.25)  # fmt: skip
    assert load_world_model(full_context["out"]).clips["frames"].shape[1] == wm.window  # start clips fill the context

    # a model continued on other play keeps the starts and held-out recording of the one it continued
    own_dataset = wm.info["dataset_id"]
    wm.info = {**wm.info, "dataset_id": "other/recording-v0"}
    wm.save(tmp_path / "source")
    kept = export_world_model(str(tmp_path / "run"), str(tmp_path / "wm-kept"), clips_from=str(tmp_path / "source"))
    kept_wm = load_world_model(kept["out"])
    assert np.array_equal(kept_wm.clips["frames"], wm.clips["frames"])
    assert kept_wm.info["dataset_id"] == "other/recording-v0"
    assert kept_wm.info["continued_on"]["dataset_id"] == own_dataset
    wm.clips = {"frames": wm.clips["frames"][:, :, :8, :8], "actions": wm.clips["actions"]}
    wm.save(tmp_path / "small")
    with pytest.raises(ValueError, match=r"clips_from=.*small.* frames \(8, 8, 3\)"):
        export_world_model(str(tmp_path / "run"), str(tmp_path / "wm-bad"), clips_from=str(tmp_path / "small"))

    b = bench_sampler(exp["out"], steps=[1], repeats=1, threads=1)
    assert b["fps_b1"] is None or b["fps_b1"] > 0
    assert b["kv_cache_speedup"] > 0 and b["matmul_peak_gflops"] > 0
    v = bench_vae(exp["out"], repeats=1, threads=1)
    assert v["decode_fps_b32"] > 0
    from worldsim.eval.speed import bench_dream

    d = bench_dream(exp["out"], num_envs=3, steps=2, threads=1)
    assert d["env_steps_per_s"] > 0 and d["sampler_fps"] > 0


@pytest.mark.slow
def test_data_parallel_training_with_two_cpu_processes(chain, tmp_path):
    """torchrun with two gloo processes trains the DiT and writes one checkpoint."""
    import json
    import subprocess
    import sys

    args = [
        f"latents={chain / 'latents'}",
        f"vae={chain / 'vae'}",
        f"run_dir={tmp_path}",
        "dit=tiny",
        "window=4",
        "sampler.context=3",
        "steps=4",
        "batch_size=2",
        "warmup=1",
        "ckpt_every=2",
        "sample_every=1000",
        "progress=false",
        "threads=1",
    ]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "worldsim.cli", "train", *args]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    results = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 2 and all(r["world_size"] == 2 and r["step"] == 4 for r in results)
    _, _, extra = load_model(tmp_path / "model.safetensors", "dit")
    assert extra["info"]["step"] == 4


def test_warm_start_from_an_exported_world_model(chain, tmp_path):
    from worldsim.export import export_world_model

    train_dit(dit_cfg(chain, tmp_path / "a", 3))
    exp = export_world_model(str(tmp_path / "a"), str(tmp_path / "wm"), root=str(chain / "minari"), clips=1,
                             clip_length=4, eval_fraction=0.25)  # fmt: skip
    cfg = dit_cfg(chain, tmp_path / "c", 5)
    cfg.init_from = exp["out"]
    out = train_dit(cfg)
    assert out["step"] == 5
    _, _, extra = load_model(tmp_path / "c" / "model.safetensors", "dit")
    assert extra["info"]["step"] == 5
    from worldsim.models.vae import vae_file

    # a DiT run folder: the VAE it names (its model.safetensors is the DiT); a world-model folder: its own
    assert vae_file(str(tmp_path / "c")) == (chain / "vae" / "model.safetensors").resolve()
    assert vae_file(exp["out"]) == (Path(exp["out"]) / "vae.safetensors").resolve()

    # a source trained long ago (step 10,000): the warm start's EMA follows its own few steps, so that a short
    # fine-tune (a loop round) saves what it learnt rather than a blend that is mostly the source
    dit_path = Path(exp["out"]) / "dit.safetensors"
    src_cfg, src_state, src_extra = load_model(dit_path, "dit")
    src_extra["info"]["step"] = 10_000
    save_model(dit_path, "dit", src_cfg, src_state, extra=src_extra)
    cfg = dit_cfg(chain, tmp_path / "d", 10_003)
    cfg.init_from = exp["out"]
    assert train_dit(cfg)["step"] == 10_003
    raw = load_file(str(tmp_path / "d" / "train_state.safetensors"))
    shared = [k for k in src_state if f"extra.model.{k}" in raw]
    moved = {w: sum(float((raw[f"extra.{w}.{k}"] - src_state[k]).norm()) for k in shared) for w in ("model", "ema")}
    assert moved["model"] > 0 and moved["ema"] > 0.5 * moved["model"], moved


def test_training_in_bf16_with_a_time_budget_and_extra_latents(chain, tmp_path):
    """The GPU run's settings on the CPU: bf16 autocast, a wall-clock budget (checkpointed where it stops, resumed
    with its clock), and a second cache whose every episode trains."""
    cfg = dit_cfg(chain, tmp_path / "run", 10**6)
    cfg.dtype, cfg.max_minutes, cfg.ckpt_every = "bfloat16", 0.02, 10**6
    cfg.extra_latents = [str(chain / "latents")]
    out = train_dit(cfg)
    assert 0 < out["step"] < 10**6 and out["dtype"] == "bfloat16" and np.isfinite(out["loss"])
    assert out["train_minutes"] >= 0.02
    _, _, extra = load_model(tmp_path / "run" / "model.safetensors", "dit")
    assert extra["info"]["step"] == out["step"] and extra["info"]["dtype"] == "bfloat16"
    assert extra["info"]["extra_latents"] == [str(chain / "latents")]
    cfg.max_minutes = 0.04  # a larger budget resumes from the checkpoint and its clock
    again = train_dit(cfg)
    assert again["step"] > out["step"] and again["train_minutes"] >= 0.04
    wm = load_world_model(str(tmp_path / "run"), dtype="bfloat16")
    s = wm.sampler(batch=1, seeds=[0])
    s.reset([0], torch.zeros(1, 1, 4, 4, 4))
    assert torch.isfinite(s.step(torch.zeros(1, 3))[0]).all()
    bad = dit_cfg(chain, tmp_path / "bad", 3)
    bad.dtype = "float16"
    with pytest.raises(ValueError, match="bfloat16"):
        train_dit(bad)


def test_lr_follows_the_time_budget():
    from worldsim.train.train_dit import lr_at

    cfg = TrainDiTConfig(lr=1e-3, warmup=10, steps=10**6, min_lr_ratio=0.1, max_minutes=2.0)
    clock = {"start_step": 500, "seconds": 0.0}
    assert lr_at(500, cfg, clock) == pytest.approx(1e-4)  # warm-up counts from the run's first step
    assert lr_at(520, cfg, {**clock, "seconds": 0.0}) == pytest.approx(1e-3)
    assert lr_at(520, cfg, {**clock, "seconds": 60.0}) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(520, cfg, {**clock, "seconds": 500.0}) == pytest.approx(1e-4)
    cfg.max_minutes = None  # without a budget: the step schedule, as before
    assert lr_at(520, cfg, clock) == lr_at(520, cfg)


def test_dit_resume_after_a_save_cut_between_its_two_files_is_exact(chain, tmp_path):
    import shutil

    a = train_dit(dit_cfg(chain, tmp_path / "a", 6))
    run = tmp_path / "b"
    train_dit(dit_cfg(chain, run, 3))
    shutil.copy(run / "train_state.safetensors", tmp_path / "state3")
    train_dit(dit_cfg(chain, run, 6))
    shutil.copy(tmp_path / "state3", run / "train_state.safetensors")  # the model file is of step 6, the state of 3
    b = train_dit(dit_cfg(chain, run, 6))
    assert a["step"] == b["step"] == 6
    _, wa, _ = load_model(tmp_path / "a" / "model.safetensors", "dit")
    _, wb, _ = load_model(run / "model.safetensors", "dit")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_training_run_folder_is_a_dream_env(chain, tmp_path):
    """Dream-v0 with model=<run dir> starts from held-out clips of the run's dataset, and passes the env checker."""
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    train_dit(dit_cfg(chain, tmp_path / "run", 3))
    env = gym.make("worldsim/Dream-v0", model=str(tmp_path / "run"), dataset_root=str(chain / "minari"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16, 16, 3) and env.unwrapped.wm.clips["frames"].shape[1] == 3  # context-long clips
    check_env(env.unwrapped, skip_render_check=True)
    lost = gym.make("worldsim/Dream-v0", model=str(tmp_path / "run"), dataset_root=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="pass dataset_root="):
        lost.reset(seed=0)


def test_model_sizes_from_the_command_line_and_reward_classes_from_the_data(chain, tmp_path):
    from dataclasses import replace

    from worldsim.cli import compose

    cfg = compose("train", ["arch.dim=40", "arch.depth=1", "arch.heads=2"])
    assert cfg.arch.dim == 40 and cfg.arch.mlp_ratio is None
    res = train_dit(replace(dit_cfg(chain, tmp_path / "a", 1), arch={"dim": 40, "depth": 1, "heads": 2}))
    config, _, _ = load_model(tmp_path / "a" / "model.safetensors", "dit")
    assert (config["dim"], config["depth"], config["heads"]) == (40, 1, 2) and res["step"] == 1
    values = np.unique(open_latent_cache(chain / "latents")[0].rewards)
    assert config["reward_values"] == (values.tolist() if 2 <= len(values) <= 16 else None)
    with pytest.raises(ValueError, match="dim / heads"):
        train_dit(replace(dit_cfg(chain, tmp_path / "b", 1), arch={"dim": 50, "heads": 4}))
    with pytest.raises(ValueError, match="unknown sizes"):
        train_dit(replace(dit_cfg(chain, tmp_path / "c", 1), arch={"width": 50}))


def test_event_windows_and_rollout_batches_train_deterministically(chain, tmp_path):
    runs = [train_dit(replace(dit_cfg(chain, tmp_path / name, 3), event_windows=0.5, rollout_prob=0.5))
            for name in ("a", "b")]  # fmt: skip
    assert runs[0]["step"] == runs[1]["step"] == 3 and np.isfinite(runs[0]["loss"])
    wa, wb = (load_model(tmp_path / n / "model.safetensors", "dit")[1] for n in ("a", "b"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # cheaper rollouts: shorter windows, several real frames after the dream as targets
    short = train_dit(replace(dit_cfg(chain, tmp_path / "c", 2), rollout_prob=1.0, rollout_window=3))
    tail = train_dit(replace(dit_cfg(chain, tmp_path / "d", 2), rollout_prob=1.0, rollout_targets=2))
    assert short["step"] == tail["step"] == 2 and np.isfinite(short["loss"]) and np.isfinite(tail["loss"])
    info = load_model(tmp_path / "c" / "model.safetensors", "dit")[2]["info"]["recipe"]
    assert (info["rollout_window"], info["rollout_targets"]) == (3, 1)
    with pytest.raises(ValueError, match=r"rollout_window must be in \[3, window=4\]"):
        train_dit(replace(dit_cfg(chain, tmp_path / "e", 1), rollout_prob=0.5, rollout_window=5))
    with pytest.raises(ValueError, match=r"rollout_targets must be in \[1, 1\]"):
        train_dit(replace(dit_cfg(chain, tmp_path / "e", 1), rollout_prob=0.5, rollout_window=3, rollout_targets=2))


def test_contrast_floor_from_the_training_frames_travels_with_the_model(chain, tmp_path):
    from dataclasses import replace

    from worldsim.export import export_world_model

    with pytest.raises(ValueError, match=r"std_floor_quantile must be in \[0, 1\)"):
        train_dit(replace(dit_cfg(chain, tmp_path / "bad", 2), std_floor_quantile=1.0))
    train_dit(replace(dit_cfg(chain, tmp_path / "run", 2), std_floor_quantile=0.1))
    wm = load_world_model(str(tmp_path / "run"))
    floor = wm.sampler_cfg.std_floor
    assert len(floor) == 4 and all(v > 0 for v in floor)  # one per latent channel, from real frames
    assert wm.info["recipe"]["std_floor_quantile"] == 0.1
    kept = export_world_model(str(tmp_path / "run"), str(tmp_path / "wm"), root=str(chain / "minari"), clips=2,
                              eval_fraction=0.25)  # fmt: skip
    assert kept["std_floor"] == floor and load_world_model(kept["out"]).sampler_cfg.std_floor == floor
    off = export_world_model(str(tmp_path / "run"), str(tmp_path / "wm0"), root=str(chain / "minari"), clips=2,
                             eval_fraction=0.25, std_floor=0)  # fmt: skip
    assert off["std_floor"] is None and load_world_model(off["out"]).sampler_cfg.std_floor is None
    higher = load_world_model(off["out"])
    assert all(a > b for a, b in zip(higher.set_std_floor(0.9), floor))  # a higher quantile of the folder's clips
    with pytest.raises(ValueError, match=r"std_floor must be a quantile in \(0, 1\)"):
        higher.set_std_floor(1.5)
    from worldsim.dream import Dream

    dream = Dream(higher, 1, seeds=[0])
    assert dream.sampler.cfg.std_floor == higher.sampler_cfg.std_floor  # dreams run with the model's floor
    dream.start([0], higher.clips["frames"][:1], higher.clips["actions"][:1])
    assert dream.step([[0, 0, 0]]).frames.shape == (1, 16, 16, 3)
    banded = export_world_model(str(tmp_path / "run"), str(tmp_path / "wmb"), root=str(chain / "minari"), clips=2,
                                eval_fraction=0.25, mean_band=0.01)  # fmt: skip
    band = load_world_model(banded["out"]).sampler_cfg.mean_band  # the colour band travels with the model too
    assert banded["mean_band"] and len(band) == 4 and all(lo < hi for lo, hi in band)
    assert higher.set_mean_band(0.4) and higher.sampler_cfg.std_floor is not None  # each setting on its own
    assert higher.set_mean_band(0) is None and higher.sampler_cfg.mean_band is None
    with pytest.raises(ValueError, match=r"mean_band must be a quantile in \(0, 0.5\)"):
        higher.set_mean_band(0.5)


def test_adversarial_training_resumes_exactly_and_is_recorded(chain, tmp_path):
    from worldsim.train.adversarial import AdversarialConfig

    adv = AdversarialConfig(weight=0.1, warmup=2, min_t=0.0)
    a = train_dit(replace(dit_cfg(chain, tmp_path / "a", 6), adversarial=adv))
    train_dit(replace(dit_cfg(chain, tmp_path / "b", 3), adversarial=adv))
    b = train_dit(replace(dit_cfg(chain, tmp_path / "b", 6), adversarial=adv))
    assert a["step"] == b["step"] == 6 and np.isfinite(a["adversarial"]) and np.isfinite(a["critic"])
    wa, wb = (load_model(tmp_path / n / "model.safetensors", "dit")[1] for n in ("a", "b"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # critic and its optimizer resumed with the run
    sa, sb = (load_file(tmp_path / n / "train_state.safetensors") for n in ("a", "b"))
    critic = [k for k in sa if k.startswith("extra.adv")]
    assert critic and all(torch.equal(sa[k], sb[k]) for k in critic)
    recipe = load_model(tmp_path / "a" / "model.safetensors", "dit")[2]["info"]["recipe"]
    assert recipe["adversarial"]["weight"] == 0.1
    with pytest.raises(ValueError, match="adversarial.weight must be >= 0"):
        AdversarialConfig(weight=-1.0)
    with pytest.raises(ValueError, match=r"adversarial.min_t must be in \[0, 1\]"):
        AdversarialConfig(weight=0.1, min_t=2.0)
