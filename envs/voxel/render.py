"""First-person ray-cast renderer of the voxel world, compiled with numba (cache kept on disk).

Every pixel casts one ray through the voxel grid (Amanatides-Woo traversal). A hit takes its block's flat colour,
shaded by the face it struck (tops brightest, bottoms darkest), with a slight per-block tint so single blocks stay
visible, then fades into the sky with distance fog. Water is see-through: the ray goes on beneath the surface
and the result is tinted by how much water it crossed. A crosshair marks the centre, as in Minecraft.

Coordinates: ``world[x, z, y]``; yaw 0 looks along +z, positive yaw turns toward +x; positive pitch looks up.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from worldsim.envs.voxel.blocks import AIR, DIRT, GRASS, SIDE_COLORS, SOLID, TOP_COLORS, WATER

SKY_HORIZON = np.array((186, 212, 238), dtype=np.float32)
SKY_ZENITH = np.array((104, 152, 226), dtype=np.float32)
WATER_COLOR = np.array((40, 84, 190), dtype=np.float32)
# Brightness of a face by the axis and direction of its normal: -x, +x, -y (bottom), +y (top), -z, +z.
FACE_SHADE = np.array((0.80, 0.80, 0.52, 1.0, 0.66, 0.66), dtype=np.float32)


def camera_basis(yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward, right and up unit vectors (x, y, z) of a camera with the given yaw and pitch in degrees."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    sy, cy, sp, cp = math.sin(yaw), math.cos(yaw), math.sin(pitch), math.cos(pitch)
    forward = np.array((sy * cp, sp, cy * cp))
    right = np.array((cy, 0.0, -sy))
    up = np.array((-sy * sp, cp, -cy * sp))  # forward x right
    return forward, right, up


@njit(cache=True, inline="always")
def _block(world, x, y, z):
    sx, sz, sy = world.shape
    if x < 0 or z < 0 or x >= sx or z >= sz or y < 0 or y >= sy:
        return AIR
    return world[x, z, y]


@njit(cache=True)
def _trace(world, solid, ox, oy, oz, dx, dy, dz, max_dist, top):
    """Walk the grid from (ox, oy, oz) along unit (dx, dy, dz).

    Returns (block, bx, by, bz, face, dist, water_dist) for the first solid block within ``max_dist``, where face
    indexes FACE_SHADE and water_dist is the distance travelled through water before the hit. block is AIR (0) on
    a miss. ``top`` is a y above which the world holds only air: a ray climbing past it stops early.
    """
    bx = int(math.floor(ox))
    by = int(math.floor(oy))
    bz = int(math.floor(oz))
    step_x = 1 if dx > 0 else -1
    step_y = 1 if dy > 0 else -1
    step_z = 1 if dz > 0 else -1
    inf = 1e30
    t_dx = abs(1.0 / dx) if dx != 0 else inf
    t_dy = abs(1.0 / dy) if dy != 0 else inf
    t_dz = abs(1.0 / dz) if dz != 0 else inf
    t_x = ((bx + 1 - ox) if dx > 0 else (ox - bx)) * t_dx if dx != 0 else inf
    t_y = ((by + 1 - oy) if dy > 0 else (oy - by)) * t_dy if dy != 0 else inf
    t_z = ((bz + 1 - oz) if dz > 0 else (oz - bz)) * t_dz if dz != 0 else inf
    t = 0.0
    face = 3
    water = 0.0
    sy = min(top, world.shape[2])
    while t <= max_dist:
        b = _block(world, bx, by, bz)
        if solid[b]:
            return b, bx, by, bz, face, t, water
        t_prev = t
        if t_x < t_y and t_x < t_z:
            t = t_x
            t_x += t_dx
            bx += step_x
            face = 0 if step_x > 0 else 1
        elif t_y < t_z:
            t = t_y
            t_y += t_dy
            by += step_y
            face = 2 if step_y > 0 else 3
        else:
            t = t_z
            t_z += t_dz
            bz += step_z
            face = 4 if step_z > 0 else 5
        if b == WATER:
            water += min(t, max_dist) - t_prev
        if (by < 0 and step_y < 0) or (by >= sy and step_y > 0):
            break
    return AIR, bx, by, bz, face, max_dist, water


@njit(cache=True, inline="always")
def _tint(bx, by, bz):
    h = (bx * 73856093) ^ (by * 19349663) ^ (bz * 83492791)
    h = (h ^ (h >> 13)) & 0xFF
    return 0.95 + 0.10 * h / 255.0


@njit(cache=True, inline="always")
def _pixel_ray(row, col, forward, right, up, width, height, tan_half):
    """Unit direction (dx, dy, dz) of the ray through the centre of pixel (row, col)."""
    v = (1.0 - 2.0 * (row + 0.5) / height) * tan_half
    u = (2.0 * (col + 0.5) / width - 1.0) * tan_half * (width / height)
    dx = forward[0] + u * right[0] + v * up[0]
    dy = forward[1] + u * right[1] + v * up[1]
    dz = forward[2] + u * right[2] + v * up[2]
    n = math.sqrt(dx * dx + dy * dy + dz * dz)
    return dx / n, dy / n, dz / n


@njit(cache=True, fastmath=True)
def render_view(world, solid, side_colors, top_colors, face_shade, sky_horizon, sky_zenith, water_color,
                eye, forward, right, up, width, height, fov_deg, view_dist, top, out):  # fmt: skip
    """Render the view from ``eye`` into ``out`` (height, width, 3) uint8."""
    tan_half = math.tan(math.radians(fov_deg) * 0.5)
    fog_start = 0.5 * view_dist
    ox, oy, oz = eye[0], eye[1], eye[2]
    for row in range(height):
        for col in range(width):
            dx, dy, dz = _pixel_ray(row, col, forward, right, up, width, height, tan_half)
            b, bx, by, bz, face, dist, water = _trace(world, solid, ox, oy, oz, dx, dy, dz, view_dist, top)
            if b == AIR:  # sky: horizon colour blending into the zenith's as the ray climbs
                s = math.sqrt(dy) if dy > 0.0 else 0.0
                r = sky_horizon[0] + (sky_zenith[0] - sky_horizon[0]) * s
                g = sky_horizon[1] + (sky_zenith[1] - sky_horizon[1]) * s
                bl = sky_horizon[2] + (sky_zenith[2] - sky_horizon[2]) * s
                fog = 0.0
            else:
                shade = face_shade[face] * _tint(bx, by, bz)
                cols = top_colors if face == 3 else side_colors
                if b == GRASS and face != 2 and oy + dy * dist - by > 0.8:
                    cols = top_colors  # the green fringe along the top of a grass block's side
                r = cols[b, 0] * shade
                g = cols[b, 1] * shade
                bl = cols[b, 2] * shade
                fog = min(max((dist - fog_start) / (view_dist - fog_start), 0.0), 1.0)
            if water > 0.0:
                a = min(0.45 + 0.09 * water, 0.92)
                r = r + (water_color[0] - r) * a
                g = g + (water_color[1] - g) * a
                bl = bl + (water_color[2] - bl) * a
                fog = min(fog, 0.6)
            fog = fog * fog
            out[row, col, 0] = np.uint8(min(r + (sky_horizon[0] - r) * fog, 255.0))
            out[row, col, 1] = np.uint8(min(g + (sky_horizon[1] - g) * fog, 255.0))
            out[row, col, 2] = np.uint8(min(bl + (sky_horizon[2] - bl) * fog, 255.0))
    # crosshair: inverted pixels in a small plus at the centre
    arm = max(1, height // 32)
    cy = height // 2
    cx = width // 2
    for k in range(-arm, arm + 1):
        for c in range(3):
            out[cy, cx + k, c] = 255 - out[cy, cx + k, c]
            if k != 0:
                out[cy + k, cx, c] = 255 - out[cy + k, cx, c]


@njit(cache=True)
def surface_view(world, solid, eye, forward, right, up, width, height, fov_deg, view_dist, top, out):
    """Which surface every pixel of the view shows, into ``out`` (height, width) int64: the face of the solid
    block the pixel's ray hits first (beneath any water), as ``((x * size_z + z) * size_y + y) * 6 + face``, or -1
    for sky (whose colour depends on the ray's direction alone). The world is flat-shaded, so two pixels that
    show one surface differ only by fog and water along their rays."""
    tan_half = math.tan(math.radians(fov_deg) * 0.5)
    _, sz, sy = world.shape
    for row in range(height):
        for col in range(width):
            dx, dy, dz = _pixel_ray(row, col, forward, right, up, width, height, tan_half)
            b, bx, by, bz, face, _, _ = _trace(world, solid, eye[0], eye[1], eye[2], dx, dy, dz, view_dist, top)
            out[row, col] = -1 if b == AIR else ((bx * sz + bz) * sy + by) * 6 + face


@njit(cache=True)
def class_view(world, solid, eye, forward, right, up, width, height, fov_deg, view_dist, top, out):
    """What every pixel shows, by block: 0 (``AIR``) for sky, ``WATER`` where the ray crossed water, else the id of
    the block it hit, with a grass block's sides (brown, below their green fringe) counted as ``DIRT``, the colour
    they show. The ground truth a colour classifier of frames is scored against (``worldsim/eval/metrics.py``)."""
    tan_half = math.tan(math.radians(fov_deg) * 0.5)
    for row in range(height):
        for col in range(width):
            dx, dy, dz = _pixel_ray(row, col, forward, right, up, width, height, tan_half)
            b, bx, by, bz, face, dist, water = _trace(world, solid, eye[0], eye[1], eye[2], dx, dy, dz, view_dist, top)
            if b != AIR and water > 0.0:
                b = WATER
            elif b == GRASS and face != 3 and not (face != 2 and eye[1] + dy * dist - by > 0.8):
                b = DIRT
            out[row, col] = b


@njit(cache=True)
def raycast(world, solid, eye, direction, reach):
    """The solid block under the crosshair within ``reach``.

    Returns (block, bx, by, bz, nx, ny, nz): block is AIR (0) when nothing is in reach; (nx, ny, nz) is the
    normal of the face that was hit, pointing back toward the player.
    """
    b, bx, by, bz, face, dist, water = _trace(
        world, solid, eye[0], eye[1], eye[2], direction[0], direction[1], direction[2], reach, world.shape[2]
    )
    nx = 0
    ny = 0
    nz = 0
    if face == 0:
        nx = -1
    elif face == 1:
        nx = 1
    elif face == 2:
        ny = -1
    elif face == 3:
        ny = 1
    elif face == 4:
        nz = -1
    else:
        nz = 1
    return b, bx, by, bz, nx, ny, nz


class Renderer:
    """Holds the palette and an output buffer; ``render(world, eye, yaw, pitch)`` returns a new uint8 frame."""

    def __init__(self, width: int = 64, height: int = 64, fov: float = 70.0, view_distance: float = 32.0):
        if width < 8 or height < 8:
            raise ValueError(f"render size must be at least 8x8, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.fov, self.view_distance = float(fov), float(view_distance)

    def render(self, world: np.ndarray, eye: np.ndarray, yaw: float, pitch: float, top: int | None = None):
        """``top``: a y above which ``world`` holds only air (a speed hint; the full height when None)."""
        top = world.shape[2] if top is None else int(top)
        forward, right, up = camera_basis(yaw, pitch)
        out = np.empty((self.height, self.width, 3), dtype=np.uint8)
        palette = (SOLID, SIDE_COLORS, TOP_COLORS, FACE_SHADE, SKY_HORIZON, SKY_ZENITH, WATER_COLOR)
        camera = (eye, forward, right, up, self.width, self.height, self.fov, self.view_distance)
        render_view(world, *palette, *camera, top, out)
        return out

    def _per_pixel(self, kernel, dtype, world, eye, yaw, pitch, top) -> np.ndarray:
        """One value per pixel of the view from a ``surface_view``-shaped kernel."""
        top = world.shape[2] if top is None else int(top)
        forward, right, up = camera_basis(yaw, pitch)
        out = np.empty((self.height, self.width), dtype=dtype)
        kernel(world, SOLID, eye, forward, right, up, self.width, self.height, self.fov, self.view_distance, top, out)
        return out

    def surfaces(self, world: np.ndarray, eye: np.ndarray, yaw: float, pitch: float, top: int | None = None):
        """The surface id of every pixel of the view (int64 (height, width), -1 for sky; ``surface_view``)."""
        return self._per_pixel(surface_view, np.int64, world, eye, yaw, pitch, top)

    def classes(self, world: np.ndarray, eye: np.ndarray, yaw: float, pitch: float, top: int | None = None):
        """The block class every pixel shows (uint8 (height, width); ``class_view``)."""
        return self._per_pixel(class_view, np.uint8, world, eye, yaw, pitch, top)
