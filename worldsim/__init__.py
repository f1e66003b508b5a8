"""worldsim: action-conditioned video diffusion world models as Gymnasium environments.

Importing ``worldsim`` registers its env ids (``gymnasium.make("worldsim/Voxel-v0")``); the model API imports
torch only when first used.
"""

from worldsim import envs as envs  # registers the env ids

__version__ = "0.1.0"
__all__ = ["__version__", "envs", "load_vae"]


def load_vae(name_or_path: str, device: str = "cpu"):
    """The trained per-frame VAE: ``load_vae("voxel")`` or a checkpoint path (see worldsim.models.vae)."""
    from worldsim.models.vae import load_vae as _load_vae

    return _load_vae(name_or_path, device)
