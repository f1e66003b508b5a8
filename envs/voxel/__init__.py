"""The Minecraft-style voxel world: terrain, renderer, physics and the Gymnasium env."""

from worldsim.envs.voxel.blocks import BLOCK_NAMES
from worldsim.envs.voxel.env import VoxelEnv

__all__ = ["BLOCK_NAMES", "VoxelEnv"]
