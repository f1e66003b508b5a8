"""worldsim: action-conditioned video diffusion world models as Gymnasium environments.

Importing ``worldsim`` registers its env ids (``gymnasium.make("worldsim/Voxel-v0")``).
"""

from worldsim import envs as envs  # registers the env ids

__version__ = "0.1.0"
__all__ = ["__version__", "envs"]
