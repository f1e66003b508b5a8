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
                          threads=1, vae=vae, **kw)  # fmt: skip


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
    other.vae = VAEConfig(resolution=(16, 16), latent_channels=8, downsample=4, widths=[8, 16], decoder_widths=[8, 16])
    with pytest.raises(CheckpointError, match="trained with VAE config"):
        train_vae(other)


def test_dataset_of_another_resolution_is_refused(tiny_dataset, tmp_path):
    bad = cfg(tiny_dataset, tmp_path, 3)
    bad.vae = VAEConfig(resolution=(32, 32), latent_channels=4, downsample=4, widths=[8, 16], decoder_widths=[8, 16])
    with pytest.raises(ValueError, match=r"frames of shape \(16, 16, 3\), but the model needs \(32, 32, 3\)"):
        train_vae(bad)
