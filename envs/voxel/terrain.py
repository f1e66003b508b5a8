"""Seeded procedural terrain for the voxel world, compiled with numba.

The world is a uint8 array indexed ``world[x, z, y]`` (y is up, so a column is contiguous). Terrain is a fractal
value-noise heightmap with a mountain mask: plains and hills of grass over dirt over stone, sand beaches and
gravel lake beds around water, bare stone and snow at height, bedrock at the bottom, and oak-like trees (log trunk,
leaf crown) whose density follows a forest-noise map.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from worldsim.envs.voxel.blocks import (
    AIR,
    BEDROCK,
    DIRT,
    GRASS,
    GRAVEL,
    LEAVES,
    LOG,
    SAND,
    SNOW,
    STONE,
    WATER,
)

WATER_LEVEL = 18  # water fills columns up to this y


@njit(cache=True, inline="always")
def _hash2(ix, iz, seed):
    """Integer lattice hash -> float in [0, 1)."""
    h = (ix * 374761393 + iz * 668265263 + seed * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF) / 16777216.0


@njit(cache=True, inline="always")
def _smooth(t):
    return t * t * (3.0 - 2.0 * t)


@njit(cache=True)
def _value_noise(x, z, seed):
    ix = int(np.floor(x))
    iz = int(np.floor(z))
    fx = _smooth(x - ix)
    fz = _smooth(z - iz)
    a = _hash2(ix, iz, seed)
    b = _hash2(ix + 1, iz, seed)
    c = _hash2(ix, iz + 1, seed)
    d = _hash2(ix + 1, iz + 1, seed)
    return (a + (b - a) * fx) + ((c + (d - c) * fx) - (a + (b - a) * fx)) * fz


@njit(cache=True)
def _fbm(x, z, seed, octaves):
    """Fractal sum of value noise in [0, 1)."""
    total = 0.0
    amp = 0.5
    norm = 0.0
    freq = 1.0
    for o in range(octaves):
        total += amp * _value_noise(x * freq, z * freq, seed + 101 * o)
        norm += amp
        amp *= 0.5
        freq *= 2.0
    return total / norm


@njit(cache=True)
def _smoothstep(lo, hi, v):
    t = min(max((v - lo) / (hi - lo), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@njit(cache=True)
def heightmap(size_x, size_z, height, seed):
    """Surface height (the y of the top solid block) of every column."""
    h = np.empty((size_x, size_z), dtype=np.int32)
    for x in range(size_x):
        for z in range(size_z):
            base = _fbm(x / 48.0, z / 48.0, seed, 5)
            hills = 22.0 + 40.0 * (base - 0.5)
            mountain = _smoothstep(0.55, 0.78, _fbm(x / 160.0, z / 160.0, seed + 7, 3))
            y = hills + mountain * 34.0 * _fbm(x / 24.0, z / 24.0, seed + 13, 3)
            h[x, z] = min(max(int(y), 2), height - 12)
    return h


@njit(cache=True)
def _fill_columns(world, h, seed):
    size_x, size_z, height = world.shape
    for x in range(size_x):
        for z in range(size_z):
            top = h[x, z]
            world[x, z, 0] = BEDROCK
            for y in range(1, top - 3):
                world[x, z, y] = STONE
            for y in range(max(1, top - 3), top):
                world[x, z, y] = DIRT
            if top <= WATER_LEVEL - 3:
                surface = GRAVEL
            elif top <= WATER_LEVEL + 1:
                surface = SAND
            elif top >= 40 + int(3 * _hash2(x, z, seed + 3)):
                surface = SNOW
            elif top >= 33 + int(3 * _hash2(x, z, seed + 5)):
                surface = STONE
            else:
                surface = GRASS
            world[x, z, top] = surface
            if surface == SAND:
                for y in range(max(1, top - 3), top):
                    world[x, z, y] = SAND
            for y in range(top + 1, WATER_LEVEL + 1):
                world[x, z, y] = WATER


@njit(cache=True)
def _plant_trees(world, h, seed):
    size_x, size_z, height = world.shape
    for x in range(3, size_x - 3):
        for z in range(3, size_z - 3):
            top = h[x, z]
            if world[x, z, top] != GRASS or top + 9 >= height:
                continue
            forest = _smoothstep(0.45, 0.65, _fbm(x / 90.0, z / 90.0, seed + 29, 3))
            p = 0.004 + 0.06 * forest
            if _hash2(x, z, seed + 31) >= p:
                continue
            # keep trunks at least 3 blocks apart
            crowded = False
            for dx in range(-2, 3):
                for dz in range(-2, 3):
                    if world[x + dx, z + dz, top + 1] == LOG:
                        crowded = True
            if crowded:
                continue
            trunk = 4 + int(3 * _hash2(x, z, seed + 37))
            crown = top + trunk
            for dy in range(-2, 2):
                radius = 2 if dy < 0 else 1
                for dx in range(-radius, radius + 1):
                    for dz in range(-radius, radius + 1):
                        corner = abs(dx) == radius and abs(dz) == radius
                        if corner and _hash2(x + dx * 7 + dy, z + dz * 5, seed + 41) < 0.6:
                            continue
                        y = crown + dy
                        if world[x + dx, z + dz, y] == AIR:
                            world[x + dx, z + dz, y] = LEAVES
            world[x, z, crown + 1] = LEAVES
            world[x, z, top] = DIRT
            for y in range(top + 1, crown + 1):
                world[x, z, y] = LOG


def generate_world(size: int, height: int, seed: int) -> np.ndarray:
    """A new world of ``size x size`` columns and ``height`` blocks, fully determined by ``seed``."""
    seed = int(seed) % 1_000_003
    world = np.zeros((size, size, height), dtype=np.uint8)
    h = heightmap(size, size, height, seed)
    _fill_columns(world, h, seed)
    _plant_trees(world, h, seed)
    return world


@njit(cache=True)
def find_spawn(world, cx, cz):
    """The dry-land column nearest to (cx, cz), searched in growing squares; returns (x, y_feet, z)."""
    size_x, size_z, height = world.shape
    for r in range(0, max(size_x, size_z)):
        for dx in range(-r, r + 1):
            for dz in range(-r, r + 1):
                if max(abs(dx), abs(dz)) != r:
                    continue
                x = cx + dx
                z = cz + dz
                if x < 1 or z < 1 or x >= size_x - 1 or z >= size_z - 1:
                    continue
                y = height - 1
                while y > 0 and world[x, z, y] == AIR:
                    y -= 1
                b = world[x, z, y]
                if b != WATER and b != LEAVES and b != LOG and world[x, z, y + 1] == AIR:
                    return x, y + 1, z
    return cx, height - 1, cz
