import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import gymnasium as gym
import numpy as np
import pytest


def build_tiny_world_model(folder, seed: int = 0, pitch: bool = False):
    """A world model with random weights on 64x64 frames of the voxel world's action space, with start clips;
    ``pitch``: the DiT reads the camera's pitch (the voxel world's rule) and the clips carry theirs."""
    import torch

    from worldsim.models.actions import space_to_json
    from worldsim.models.dit import PRESETS, DiT, DiTConfig
    from worldsim.models.vae import VAE, VAEConfig
    from worldsim.sampler import SamplerConfig
    from worldsim.world_model import WorldModel

    torch.manual_seed(seed)
    vae = VAE(
        VAEConfig(
            resolution=(64, 64), latent_channels=4, downsample=16, widths=[8, 8, 8, 8], decoder_widths=[8, 8, 8, 8]
        )
    )
    space = space_to_json(gym.spaces.MultiDiscrete([5, 5, 4]))
    rule = {"column": 1, "steps": {"3": 1, "4": -1}, "limit": 12} if pitch else None
    dit = DiT(DiTConfig(latent_shape=(4, 4, 4), action_space=space, pitch=rule, **PRESETS["tiny"]))
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    rng = np.random.default_rng(seed)
    clips = {"frames": rng.integers(0, 255, (3, 6, 64, 64, 3), dtype=np.uint8),
             "actions": rng.integers(0, 4, (3, 5, 3)).astype(np.float32)}  # fmt: skip
    if pitch:
        clips["pitch"] = np.array([0, 3, -2])
    wm = WorldModel(vae.eval(), dit.eval(), SamplerConfig(steps=2, context=3), window=4,
                    info={"dataset_id": "test/none-v0"}, clips=clips)  # fmt: skip
    wm.save(folder, dtype=None)
    return folder


@pytest.fixture(scope="session")
def tiny_world_model(tmp_path_factory):
    return str(build_tiny_world_model(tmp_path_factory.mktemp("tiny_wm")))
