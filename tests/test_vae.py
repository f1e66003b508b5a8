"""The VAE: shapes, learning, exact resume, checkpoints and their errors."""

import numpy as np
import pytest
import torch

from worldsim.checkpoint import CheckpointError, load_model, save_model
from worldsim.models.vae import VAE, VAEConfig, load_vae

TINY = dict(resolution=(16, 16), latent_channels=4, downsample=4, widths=[8, 16], decoder_widths=[8, 16])


def frames(n=4, seed=0, hw=16):
    """Blocky test frames: flat colour patches, like the voxel world."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (n, hw // 4, hw // 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 4, axis=1), 4, axis=2)


def test_shapes_and_types():
    vae = VAE(VAEConfig(**TINY)).eval()
    z = vae.encode(frames())
    assert z.shape == (4, 4, 4, 4) and z.dtype == torch.float32
    out = vae.decode(z)
    assert out.shape == (4, 16, 16, 3) and out.dtype == torch.uint8
    default = VAE(VAEConfig())
    assert default.cfg.latent_shape == (16, 8, 8)


def test_bad_inputs_are_named():
    vae = VAE(VAEConfig(**TINY)).eval()
    with pytest.raises(ValueError, match=r"shape \(B, 16, 16, 3\)"):
        vae.encode(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        vae.encode(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="decodes latents"):
        vae.decode(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="downsample"):
        VAEConfig(downsample=3)


def test_tiny_vae_overfits_a_few_frames():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(**TINY))
    x = VAE.to_input(frames(8))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = vae.loss(x)[1]["psnr"]
    for _ in range(300):
        loss, logs = vae.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["psnr"] > first + 10, (first, logs["psnr"])


def test_checkpoint_round_trip_and_errors(tmp_path):
    vae = VAE(VAEConfig(**TINY)).eval()
    vae.set_latent_stats(frames(16))
    path = save_model(tmp_path / "vae.safetensors", "vae", vae.cfg, vae.state_dict())
    again = load_vae(str(path))
    f = frames(3, seed=1)
    assert torch.equal(vae.encode(f), again.encode(f))
    assert torch.equal(vae.decode(vae.encode(f)), again.decode(again.encode(f)))
    assert load_vae(str(tmp_path)).cfg == vae.cfg  # a run folder works too

    with pytest.raises(CheckpointError, match="not a 'dit'"):
        load_model(path, "dit")
    with pytest.raises(FileNotFoundError, match="no vae checkpoint"):
        load_vae(str(tmp_path / "nothing"))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_vae(str(truncated))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_vae(str(garbage))
    # weights of another shape (another resolution / width) are refused, naming the file
    other = VAE(VAEConfig(**{**TINY, "widths": [8, 24]}))
    bad = save_model(tmp_path / "bad.safetensors", "vae", vae.cfg, other.state_dict())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_vae(str(bad))


def test_fp16_checkpoint_loads_as_float32(tmp_path):
    vae = VAE(VAEConfig(**TINY)).eval()
    path = save_model(tmp_path / "half.safetensors", "vae", vae.cfg, vae.state_dict(), dtype=torch.float16)
    again = load_vae(str(path))
    assert next(again.parameters()).dtype == torch.float32


def test_decoder_upsampling_is_nearest_neighbour_bit_for_bit():
    from worldsim.models.vae import Upsample2x

    x = torch.randn(2, 3, 5, 4)
    assert torch.equal(Upsample2x()(x), torch.nn.Upsample(scale_factor=2, mode="nearest")(x))
