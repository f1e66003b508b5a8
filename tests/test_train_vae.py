"""`worldsim train-vae` on a tiny recorded dataset: it learns, checkpoints, and resumes exactly."""

import json

import pytest
import torch

from worldsim.checkpoint import CheckpointError, load_model
from worldsim.data.record import RecordConfig, record
from worldsim.models.vae import VAEConfig, load_vae
from worldsim.train.train_vae import TrainVAEConfig, train_vae


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("minari")
    record(RecordConfig(episodes=3, max_episode_steps=20, processes=1, envs_per_process=1, root=str(root),
                        dataset_id="test/tiny-v0", env_kwargs={"width": 16, "height": 16}, progress=False))  # fmt: skip
    return root


def cfg(root, run_dir, steps, **kw):
    vae = VAEConfig(resolution=(16, 16), latent_channels=4, downsample=4, widths=[8, 16], decoder_widths=[8, 16])
    return TrainVAEConfig(dataset_id="test/tiny-v0", root=str(root), run_dir=str(run_dir), steps=steps, batch_size=8,
                          warmup=2, log_every=2, eval_every=1000, ckpt_every=3, eval_frames=16, progress=False,
                          threads=1, arch=vae, **kw)  # fmt: skip


def test_train_resume_is_exact(tiny_dataset, tmp_path):
    straight = train_vae(cfg(tiny_dataset, tmp_path / "a", 6))
    train_vae(cfg(tiny_dataset, tmp_path / "b", 3))
    resumed = train_vae(cfg(tiny_dataset, tmp_path / "b", 6))
    assert straight["step"] == resumed["step"] == 6
    _, wa, ea = load_model(tmp_path / "a" / "model.safetensors", "vae")
    _, wb, eb = load_model(tmp_path / "b" / "model.safetensors", "vae")
    assert ea["step"] == eb["step"] == 6
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert json.loads((tmp_path / "b" / "eval.json").read_text())["psnr"] > 0
    assert load_vae(str(tmp_path / "b")).cfg.latent_channels == 4


def test_resume_with_another_model_config_is_refused(tiny_dataset, tmp_path):
    train_vae(cfg(tiny_dataset, tmp_path, 3))
    other = cfg(tiny_dataset, tmp_path, 6)
    other.arch = VAEConfig(resolution=(16, 16), latent_channels=8, downsample=4, widths=[8, 16], decoder_widths=[8, 16])
    with pytest.raises(CheckpointError, match="trained with VAE config"):
        train_vae(other)


def test_dataset_of_another_resolution_is_refused(tiny_dataset, tmp_path):
    bad = cfg(tiny_dataset, tmp_path, 3)
    bad.arch = VAEConfig(resolution=(32, 32), latent_channels=4, downsample=4, widths=[8, 16], decoder_widths=[8, 16])
    with pytest.raises(ValueError, match=r"frames of shape \(16, 16, 3\), but the model needs \(32, 32, 3\)"):
        train_vae(bad)


def test_a_save_cut_between_its_two_files_still_resumes_exactly(tiny_dataset, tmp_path):
    """The train state holds the weights of its own step: a model file of another step does not mislead a resume."""
    import shutil

    straight = tmp_path / "a"
    train_vae(cfg(tiny_dataset, straight, 6))
    run = tmp_path / "b"
    train_vae(cfg(tiny_dataset, run, 3))
    shutil.copy(run / "train_state.safetensors", tmp_path / "state3")
    train_vae(cfg(tiny_dataset, run, 6))
    shutil.copy(tmp_path / "state3", run / "train_state.safetensors")  # killed after the model file was renamed
    train_vae(cfg(tiny_dataset, run, 6))
    _, wa, _ = load_model(straight / "model.safetensors", "vae")
    _, wb, _ = load_model(run / "model.safetensors", "vae")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_ctrl_c_saves_and_exits_cleanly(tiny_dataset, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "worldsim.cli", "train-vae", "dataset_id=test/tiny-v0", f"root={tiny_dataset}",
            f"run_dir={tmp_path}", "steps=100000", "batch_size=4", "ckpt_every=100000", "eval_every=100000",
            "progress=false", "threads=1", "arch.resolution=[16,16]", "arch.latent_channels=4", "arch.downsample=4",
            "arch.widths=[8,16]", "arch.decoder_widths=[8,16]"]  # fmt: skip
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "tb").exists() and time.time() < deadline:  # training has begun
        time.sleep(0.2)
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and "Traceback" not in err, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["interrupted"] and 0 < result["step"] < 100000
    _, _, extra = load_model(tmp_path / "model.safetensors", "vae")
    assert extra["step"] == result["step"]


def test_the_cli_takes_the_frame_size_from_the_dataset(tiny_dataset, tmp_path):
    from worldsim.cli import main

    args = ["train-vae", "dataset_id=test/tiny-v0", f"root={tiny_dataset}", f"run_dir={tmp_path}", "steps=2",
            "batch_size=4", "eval_frames=4", "progress=false", "threads=1", "arch.downsample=4",
            "arch.widths=[8,16]", "arch.decoder_widths=[8,16]", "arch.latent_channels=4"]  # fmt: skip
    assert main(args) == 0
    assert load_vae(str(tmp_path)).cfg.resolution == (16, 16)  # the recording's 16x16, not the voxel default
