"""Player physics of the voxel world: gravity, jumping, swimming and axis-by-axis collision with solid blocks.

Units are blocks and env steps (20 steps a second, as Minecraft's ticks). The player is an axis-aligned box
0.6 wide and 1.8 tall whose position is the centre of its feet. Outside the world's columns everything counts
as solid, so the player can never leave the world.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

HALF_WIDTH = 0.3
PLAYER_HEIGHT = 1.8
EYE_HEIGHT = 1.62
WALK_SPEED = 0.2  # blocks per step
GRAVITY = 0.08  # blocks per step^2 (Minecraft's value)
JUMP_SPEED = 0.42  # clears one block, not two
DRAG = 0.98
MAX_FALL = 1.0
SWIM_GRAVITY = 0.02
SWIM_UP = 0.1
SWIM_SPEED = 0.12
_EPS = 1e-4


@njit(cache=True)
def _solid_at(world, solid, x, y, z):
    sx, sz, sy = world.shape
    if x < 0 or z < 0 or x >= sx or z >= sz or y < 0:
        return True
    if y >= sy:
        return False
    return solid[world[x, z, y]]


@njit(cache=True)
def box_collides(world, solid, px, py, pz):
    """Whether the player's box with feet at (px, py, pz) overlaps any solid block."""
    x0 = int(math.floor(px - HALF_WIDTH + _EPS))
    x1 = int(math.floor(px + HALF_WIDTH - _EPS))
    y0 = int(math.floor(py + _EPS))
    y1 = int(math.floor(py + PLAYER_HEIGHT - _EPS))
    z0 = int(math.floor(pz - HALF_WIDTH + _EPS))
    z1 = int(math.floor(pz + HALF_WIDTH - _EPS))
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            for z in range(z0, z1 + 1):
                if _solid_at(world, solid, x, y, z):
                    return True
    return False


@njit(cache=True)
def box_overlaps_block(px, py, pz, bx, by, bz):
    """Whether the player's box overlaps block (bx, by, bz): placing a block there would trap the player."""
    return (
        px + HALF_WIDTH > bx
        and px - HALF_WIDTH < bx + 1
        and py + PLAYER_HEIGHT > by
        and py < by + 1
        and pz + HALF_WIDTH > bz
        and pz - HALF_WIDTH < bz + 1
    )


@njit(cache=True)
def step_player(world, solid, water_id, state, forward, strafe, yaw_deg, jump):
    """Advance the player one step in place.

    ``state`` is float64 [x, y, z, vy, on_ground, in_water, blocked]; ``forward`` and ``strafe`` are -1, 0 or
    +1. Returns whether horizontal movement was blocked by a wall. Jumping while swimming against a bank climbs
    out of the water, as in Minecraft.
    """
    px, py, pz, vy = state[0], state[1], state[2], state[3]
    on_ground = state[4] > 0.5
    sx, sz, sy = world.shape
    fx, fy, fz = int(math.floor(px)), int(math.floor(py + 0.4)), int(math.floor(pz))
    in_water = 0 <= fx < sx and 0 <= fz < sz and 0 <= fy < sy and world[fx, fz, fy] == water_id

    yaw = math.radians(yaw_deg)
    speed = SWIM_SPEED if in_water else WALK_SPEED
    mx = forward * math.sin(yaw) + strafe * math.cos(yaw)
    mz = forward * math.cos(yaw) - strafe * math.sin(yaw)
    norm = math.sqrt(mx * mx + mz * mz)
    if norm > 0:
        mx = mx / norm * speed
        mz = mz / norm * speed

    # velocity is applied first and gravity after, so a jump rises 0.42 on its first step (peak ~1.25 blocks)
    if jump and in_water:
        vy = JUMP_SPEED if state[6] > 0.5 else SWIM_UP
    elif jump and on_ground:
        vy = JUMP_SPEED

    ny = py + vy
    if vy != 0 and box_collides(world, solid, px, ny, pz):
        if vy < 0:
            ny = math.floor(ny + _EPS) + 1.0
        else:
            ny = math.floor(ny + PLAYER_HEIGHT - _EPS) - PLAYER_HEIGHT
        if box_collides(world, solid, px, ny, pz):
            ny = py
        vy = 0.0
    py = ny
    on_ground = box_collides(world, solid, px, py - 0.01, pz)
    if on_ground and vy <= 0:
        vy = 0.0
    elif in_water:
        vy = max(vy - SWIM_GRAVITY, -0.15) * (1.0 if vy > SWIM_UP else 0.9)
    else:
        vy = max((vy - GRAVITY) * DRAG, -MAX_FALL)

    # horizontal, one axis at a time
    blocked = False
    nx = px + mx
    if mx != 0 and box_collides(world, solid, nx, py, pz):
        blocked = True
        if mx > 0:
            nx = math.floor(nx + HALF_WIDTH) - HALF_WIDTH - _EPS
        else:
            nx = math.floor(nx - HALF_WIDTH) + 1 + HALF_WIDTH + _EPS
        if box_collides(world, solid, nx, py, pz):
            nx = px
    px = nx
    nz = pz + mz
    if mz != 0 and box_collides(world, solid, px, py, nz):
        blocked = True
        if mz > 0:
            nz = math.floor(nz + HALF_WIDTH) - HALF_WIDTH - _EPS
        else:
            nz = math.floor(nz - HALF_WIDTH) + 1 + HALF_WIDTH + _EPS
        if box_collides(world, solid, px, py, nz):
            nz = pz
    pz = nz

    state[0], state[1], state[2], state[3] = px, py, pz, vy
    state[4] = 1.0 if on_ground else 0.0
    state[5] = 1.0 if in_water else 0.0
    state[6] = 1.0 if blocked else 0.0
    return blocked


def new_state(x: float, y: float, z: float) -> np.ndarray:
    """Player state standing at feet position (x, y, z)."""
    return np.array([x, y, z, 0.0, 1.0, 0.0, 0.0], dtype=np.float64)
