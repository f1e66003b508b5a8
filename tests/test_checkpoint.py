"""Checkpoints are verified on load: flipped bytes, edited configs, a foreign VAE, broken files get a CheckpointError
that names the file and what is wrong, never a dream of zeros."""

import json
import shutil
import struct

import numpy as np
import pytest
import torch

import worldsim
from worldsim.checkpoint import CheckpointError, load_model, save_model
from worldsim.world_model import load_world_model


def header(path):
    """(header length, header dict) of a safetensors file."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return n, json.loads(raw[8 : 8 + n])


def rewrite_metadata(path, drop=(), **changes):
    """Change (or ``drop``) metadata entries of a safetensors file, keeping the tensors' bytes."""
    raw = path.read_bytes()
    n, head = header(path)
    head["__metadata__"].update(changes)
    for key in drop:
        head["__metadata__"].pop(key)
    text = json.dumps(head).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


@pytest.fixture()
def wm_copy(tiny_world_model, tmp_path):
    dst = tmp_path / "wm"
    shutil.copytree(tiny_world_model, dst)
    return dst


def test_the_shipped_models_carry_hashes_and_load():
    from worldsim.assets import ASSETS, shipped_models

    assert {"voxel", "voxel-long", "voxel-still"} <= set(shipped_models())
    for f in ("voxel/dit.safetensors", "voxel/vae.safetensors", "_eval/voxel-idm.safetensors"):
        assert "content_sha256" in header(ASSETS / f)[1]["__metadata__"], f
    default = load_world_model("voxel")
    for name in shipped_models():
        assert "content_sha256" in header(ASSETS / name / "dit.safetensors")[1]["__metadata__"], name
        wm = load_world_model(name)  # a second model of the voxel world: its VAE and start clips are voxel's
        assert wm.frame_shape == default.frame_shape and wm.dit.action_space == default.dit.action_space, name
        assert wm.clips is not None and wm.clips["frames"].shape[1] >= wm.sampler_cfg.context, name
        vae = worldsim.load_vae(name)  # `worldsim encode vae=voxel-long`: the VAE its dreams are decoded with
        assert torch.equal(vae.latent_scale, wm.vae.latent_scale), name


def test_flipped_bytes_are_refused(wm_copy):
    f = wm_copy / "dit.safetensors"
    raw = bytearray(f.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 64] = bytes(255 - b for b in raw[mid : mid + 64])
    f.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="dit.safetensors: its weights or config changed"):
        load_world_model(str(wm_copy))


def test_an_edited_config_is_refused(wm_copy):
    f = wm_copy / "dit.safetensors"
    cfg = json.loads(header(f)[1]["__metadata__"]["config"])
    cfg["rope_theta"] = 10.0  # same weights, another function
    rewrite_metadata(f, config=json.dumps(cfg))
    with pytest.raises(CheckpointError, match="content hash mismatch"):
        load_world_model(str(wm_copy))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ("{not json", "'config' metadata is not valid JSON"),
        ("[1, 2]", "'config' metadata is list"),
        ('{"heads": 0}', "heads must be a positive integer, got 0"),
        ('{"dim": -192}', "dim must be a positive integer, got -192"),
        ('{"rope_theta": "big"}', "rope_theta must be a positive number"),
    ],
)
def test_bad_configs_name_the_file_and_the_field(tmp_path, tiny_world_model, config, match):
    f = tmp_path / "dit.safetensors"
    config_, state, extra = load_model(f"{tiny_world_model}/dit.safetensors", "dit")
    try:
        edit = json.loads(config)
    except ValueError:
        edit = None
    body = json.dumps({**config_, **edit}) if isinstance(edit, dict) else config  # a field changed, or garbage
    save_model(f, "dit", config_, state, extra=extra)
    # as a file from before hashes: the fields themselves are checked
    rewrite_metadata(f, drop=["content_sha256"], config=body)
    shutil.copy(f"{tiny_world_model}/vae.safetensors", tmp_path / "vae.safetensors")
    with pytest.raises(CheckpointError, match=match) as err:
        load_world_model(str(tmp_path))
    assert "dit.safetensors" in str(err.value)


def test_a_dit_with_another_vae_is_refused(wm_copy, tmp_path):
    from worldsim.models.vae import load_vae

    f = wm_copy / "dit.safetensors"
    config, state, extra = load_model(f, "dit")
    extra.setdefault("info", {})["vae_sha256"] = "0" * 64  # trained with some other VAE
    save_model(f, "dit", config, state, extra=extra)
    with pytest.raises(CheckpointError, match="was trained with the VAE of SHA-256 000000000000"):
        load_world_model(str(wm_copy))
    assert load_vae(str(wm_copy / "vae.safetensors")) is not None


def test_nan_weights_and_broken_clips_are_refused(wm_copy):
    f = wm_copy / "dit.safetensors"
    config, state, extra = load_model(f, "dit")
    good = {k: v.clone() for k, v in state.items()}
    state["patch_out.weight"][0, 0] = float("nan")
    save_model(f, "dit", config, state, extra=extra)
    with pytest.raises(CheckpointError, match="'patch_out.weight' holds NaN"):
        load_world_model(str(wm_copy))
    save_model(f, "dit", config, good, extra=extra)
    clips = wm_copy / "clips.npz"
    clips.write_bytes(clips.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="clips.npz is not a readable clips file"):
        load_world_model(str(wm_copy))
    np.savez(clips, frames=np.zeros((1, 2, 64, 64, 3), np.uint8))
    with pytest.raises(CheckpointError, match="not frames and actions"):
        load_world_model(str(wm_copy))


def test_a_checkpoint_without_config_is_named(tmp_path):
    from safetensors.torch import save_file

    f = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(2)}, str(f), metadata={"worldsim_format": "1", "kind": "dit"})
    with pytest.raises(CheckpointError, match="m.safetensors has no 'config'"):
        load_model(f, "dit")


def test_a_folder_of_a_dit_alone_borrows_the_shipped_vae_and_clips(tmp_path):
    """A second shipped model ships only its DiT: the VAE (found by the hash its DiT names) and the start clips
    are the shipped model's; a DiT whose VAE no shipped model has is refused by name."""
    from worldsim.assets import ASSETS

    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(ASSETS / "voxel" / "dit.safetensors", lone / "dit.safetensors")
    wm, shipped = load_world_model(str(lone)), load_world_model("voxel")
    assert wm.clips is not None and np.array_equal(wm.clips["frames"], shipped.clips["frames"])
    assert all(torch.equal(a, b) for a, b in zip(wm.vae.state_dict().values(), shipped.vae.state_dict().values()))
    f = lone / "dit.safetensors"
    config, state, extra = load_model(f, "dit")
    extra["info"]["vae_sha256"] = "f" * 64
    save_model(f, "dit", config, state, extra=extra)
    with pytest.raises(CheckpointError, match="has no vae.safetensors, and no shipped model has the VAE its DiT "
                                              "names \\(SHA-256 ffffffffffff"):  # fmt: skip
        load_world_model(str(lone))
    del extra["info"]["vae_sha256"]
    save_model(f, "dit", config, state, extra=extra)
    with pytest.raises(CheckpointError, match="has no vae.safetensors, and its DiT names no VAE hash"):
        load_world_model(str(lone))
