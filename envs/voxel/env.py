"""`worldsim/Voxel-v0`: a first-person, Minecraft-style voxel world as a Gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.envs.voxel import blocks
from worldsim.envs.voxel.physics import EYE_HEIGHT, box_overlaps_block, new_state, step_player
from worldsim.envs.voxel.render import Renderer, camera_basis, raycast
from worldsim.envs.voxel.terrain import find_spawn, generate_world
from worldsim.memory import ViewPose
from worldsim.utils.window import RendersFrames

MOVES = ("noop", "forward", "back", "left", "right")
CAMERAS = ("noop", "yaw_left", "yaw_right", "pitch_up", "pitch_down")
INTERACTIONS = ("noop", "jump", "break", "place")
YAW_STEP = 5.0  # degrees per camera step: about 100 deg/s at 20 steps/s, a brisk mouse turn
PITCH_STEP = 5.0
MAX_PITCH = 60.0
REACH = 4.5


class VoxelEnv(RendersFrames, gym.Env[np.ndarray, np.ndarray]):
    """A seeded, first-person voxel world: hills, plains, beaches, water, mountains with snow, and trees.

    Observation: the first-person view, ``uint8`` array of shape (height, width, 3).

    Action: ``MultiDiscrete([5, 5, 4])``, one choice from each column:

    =====  ==============  ===============  ==============
    value  0: movement     1: camera        2: interaction
    =====  ==============  ===============  ==============
    0      noop            noop             noop
    1      forward         yaw left 5 deg   jump
    2      back            yaw right 5 deg  break block
    3      strafe left     pitch up 5 deg   place block
    4      strafe right    pitch down 5deg
    =====  ==============  ===============  ==============

    Movement is 0.2 blocks a step (swimming is slower), gravity and collisions act every step, and a jump
    clears one block. Camera steps are 5 degrees (72 yaw steps make a full turn; small steps keep consecutive
    frames close, as a mouse does, which keeps the dynamics learnable); pitch is clamped to +-60 degrees. *Break*
    removes the solid block under the crosshair within 4.5 blocks (bedrock excepted) and adds it to the
    inventory; *place* puts the selected inventory block (the last one collected that is still held) against the
    face under the crosshair, unless it would overlap the player.

    Task "collect wood": reward +1 for every log block broken. Placing a log gives -1, so that breaking and
    re-placing the same log earns nothing. With ``wood_goal`` set, the episode terminates once that many logs
    are held. Registered with ``max_episode_steps=1000``.

    ``info`` (the ground truth dreams are measured against): ``position`` (feet, x y z), ``yaw`` and ``pitch``
    in degrees, ``inventory`` (count per block id, see ``blocks.BLOCK_NAMES``), ``selected`` (block id placed
    next), ``target_block`` and ``target_position`` (the block under the crosshair within reach, 0 and -1s if
    none), ``broke`` and ``placed`` (block id this step broke or placed, 0 if none), ``blocked`` (a wall stopped
    the move), ``on_ground``, ``in_water``, ``logs_collected`` and ``world_seed``.

    Args:
        render_mode: ``"rgb_array"`` or ``"human"`` (a pygame window, upscaled ``window_scale`` times).
        width, height: frame size in pixels (64x64 by default; any aspect works, e.g. 96x64).
        fov: vertical field of view in degrees.
        view_distance: how far the renderer sees, in blocks; fog thickens over its second half.
        world_size: columns along x and along z (walking 1000 steps covers at most 200 blocks, and the player
            starts near the centre, so the default 512 is never left).
        world_height: blocks along y.
        wood_goal: terminate after collecting this many logs (None: never terminate).
        start_inventory: block name -> count held at reset.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 20}
    # for a dream's view memory (worldsim.memory): the camera column turns yaw and pitch one step per value; moving,
    # jumping, breaking and placing start a new epoch; no view is kept for 12 steps after a jump (its flight) nor 6
    # after a break (the block underfoot may have gone). On recorded revisit play 375 of the 376 views the memory
    # brought back were exactly the real world's (tests/test_memory.py checks the same on other seeds)
    view_pose = ViewPose(nvec=(len(MOVES), len(CAMERAS), len(INTERACTIONS)), column=1, yaw={1: -1, 2: 1},
                         pitch={3: 1, 4: -1}, turn=round(360 / YAW_STEP), pitch_limit=round(MAX_PITCH / PITCH_STEP),
                         still={0: (0,), 2: (0,)}, settle={(2, 1): 12, (2, 2): 6}, flights=((2, 1),))  # fmt: skip
    window_title, window_fps = "worldsim: Voxel-v0", 20

    def __init__(
        self,
        render_mode: str | None = None,
        width: int = 64,
        height: int = 64,
        fov: float = 70.0,
        view_distance: float = 32.0,
        world_size: int = 512,
        world_height: int = 64,
        wood_goal: int | None = None,
        start_inventory: dict[str, int] | None = None,
        window_scale: int = 8,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if world_size < 32 or world_height < 48:
            raise ValueError(f"world must be at least 32 columns and 48 high, got {world_size}x{world_height}")
        self.render_mode = render_mode
        self.renderer = Renderer(width, height, fov, view_distance)
        self.world_size, self.world_height = int(world_size), int(world_height)
        self.wood_goal = wood_goal
        self.start_inventory = np.zeros(blocks.NUM_BLOCKS, dtype=np.int64)
        for name, count in (start_inventory or {}).items():
            if name not in blocks.BLOCK_NAMES or not blocks.PLACEABLE[blocks.BLOCK_NAMES.index(name)]:
                raise ValueError(f"start_inventory: {name!r} is not a placeable block")
            self.start_inventory[blocks.BLOCK_NAMES.index(name)] = int(count)
        self.window_scale = int(window_scale)

        self.observation_space = gym.spaces.Box(0, 255, (self.renderer.height, self.renderer.width, 3), np.uint8)
        self.action_space = gym.spaces.MultiDiscrete([len(MOVES), len(CAMERAS), len(INTERACTIONS)])

        self.world: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._window = None

    # ----------------------------------------------------------------------------------------------- reset/step
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Options: ``world_seed`` (int) picks the terrain; otherwise it is drawn from the env's seeded RNG."""
        super().reset(seed=seed)
        options = options or {}
        world_seed = options.get("world_seed")
        if world_seed is None:
            world_seed = int(self.np_random.integers(0, 2**31 - 1))
        elif not isinstance(world_seed, (int, np.integer)) or world_seed < 0:
            raise ValueError(f"options['world_seed'] must be a non-negative int, got {world_seed!r}")
        self.world_seed = int(world_seed)
        self.world = generate_world(self.world_size, self.world_height, self.world_seed)
        filled = np.flatnonzero(self.world.reshape(-1, self.world_height).any(axis=0))
        self._top = int(filled[-1]) + 1  # every block above this y is air
        c = self.world_size // 2
        x, y, z = find_spawn(self.world, c, c)
        self.state = new_state(x + 0.5, float(y), z + 0.5)
        self.yaw = float(self.np_random.integers(0, round(360 / YAW_STEP))) * YAW_STEP
        self.pitch = 0.0
        self.inventory = self.start_inventory.copy()
        self.selected = int(np.flatnonzero(self.inventory)[0]) if self.inventory.any() else 0
        self.logs_collected = 0
        self._blocked = False
        self._broke = self._placed = 0
        self._update_target()
        self._frame = self._render_frame()
        if self.render_mode == "human":
            self._show()
        return self._frame.copy(), self._info()

    def step(self, action):
        if self.world is None:
            raise gym.error.ResetNeeded("VoxelEnv: call reset() before step()")
        if not self.action_space.contains(np.asarray(action)):
            raise ValueError(f"VoxelEnv: action {action!r} is outside the action space {self.action_space}")
        move, cam, act = (int(a) for a in np.asarray(action))

        if cam == 1:
            self.yaw = (self.yaw - YAW_STEP) % 360.0
        elif cam == 2:
            self.yaw = (self.yaw + YAW_STEP) % 360.0
        elif cam == 3:
            self.pitch = min(self.pitch + PITCH_STEP, MAX_PITCH)
        elif cam == 4:
            self.pitch = max(self.pitch - PITCH_STEP, -MAX_PITCH)

        forward = {1: 1.0, 2: -1.0}.get(move, 0.0)
        strafe = {3: -1.0, 4: 1.0}.get(move, 0.0)
        self._blocked = bool(
            step_player(self.world, blocks.SOLID, blocks.WATER, self.state, forward, strafe, self.yaw, act == 1)
        )
        self._update_target()

        reward = 0.0
        self._broke = self._placed = 0
        if act == 2:
            reward += self._break()
        elif act == 3:
            reward += self._place()
        if self._broke or self._placed:
            self._update_target()

        self._frame = self._render_frame()
        terminated = self.wood_goal is not None and self.inventory[blocks.LOG] >= self.wood_goal
        if self.render_mode == "human":
            self._show()
        return self._frame.copy(), reward, bool(terminated), False, self._info()

    # ---------------------------------------------------------------------------------------------- mechanics
    @property
    def eye(self) -> np.ndarray:
        return np.array((self.state[0], self.state[1] + EYE_HEIGHT, self.state[2]))

    def _update_target(self) -> None:
        forward, _, _ = camera_basis(self.yaw, self.pitch)
        b, bx, by, bz, nx, ny, nz = raycast(self.world, blocks.SOLID, self.eye, forward, REACH)
        self._target = (int(b), (int(bx), int(by), int(bz)), (int(nx), int(ny), int(nz)))

    def _break(self) -> float:
        b, (x, y, z), _ = self._target
        if b == blocks.AIR or not blocks.BREAKABLE[b]:
            return 0.0
        self.world[x, z, y] = blocks.AIR
        self.inventory[b] += 1
        self.selected = b
        self._broke = b
        if b == blocks.LOG:
            self.logs_collected += 1
            return 1.0
        return 0.0

    def _place(self) -> float:
        b, (x, y, z), (nx, ny, nz) = self._target
        sel = self.selected
        if b == blocks.AIR or self.inventory[sel] <= 0:
            return 0.0
        px, py, pz = x + nx, y + ny, z + nz
        if not (0 <= px < self.world_size and 0 <= pz < self.world_size and 0 <= py < self.world_height):
            return 0.0
        if self.world[px, pz, py] not in (blocks.AIR, blocks.WATER):
            return 0.0
        if box_overlaps_block(self.state[0], self.state[1], self.state[2], px, py, pz):
            return 0.0
        self.world[px, pz, py] = sel
        self._top = max(self._top, py + 1)
        self.inventory[sel] -= 1
        self._placed = sel
        if self.inventory[sel] == 0:
            held = np.flatnonzero(self.inventory)
            self.selected = int(held[-1]) if held.size else 0
        return -1.0 if sel == blocks.LOG else 0.0

    def _info(self) -> dict[str, Any]:
        b, pos, _ = self._target
        return {
            "position": self.state[:3].copy(),
            "yaw": self.yaw,
            "pitch": self.pitch,
            "inventory": self.inventory.copy(),
            "selected": self.selected,
            "target_block": b,
            "target_position": np.array(pos if b else (-1, -1, -1), dtype=np.int64),
            "broke": self._broke,
            "placed": self._placed,
            "blocked": self._blocked,
            "on_ground": bool(self.state[4] > 0.5),
            "in_water": bool(self.state[5] > 0.5),
            "logs_collected": self.logs_collected,
            "world_seed": self.world_seed,
        }

    # --------------------------------------------------------------------------------------------- rendering
    def _render_frame(self) -> np.ndarray:
        return self.renderer.render(self.world, self.eye, self.yaw, self.pitch, self._top)

    def surface_ids(self) -> np.ndarray:
        """Ground truth beside the current frame: which block face every pixel shows, int64 (height, width), -1
        for sky (``render.surface_view``). Two frames show the same surface where their ids agree."""
        if self.world is None:
            raise gym.error.ResetNeeded("VoxelEnv: call reset() before surface_ids()")
        return self.renderer.surfaces(self.world, self.eye, self.yaw, self.pitch, self._top)

    def block_classes(self) -> np.ndarray:
        """Ground truth beside the current frame: the block every pixel shows, uint8 (height, width): 0 for sky,
        ``blocks.WATER`` where the view crosses water, a grass block's brown sides as ``blocks.DIRT``
        (``render.class_view``)."""
        if self.world is None:
            raise gym.error.ResetNeeded("VoxelEnv: call reset() before block_classes()")
        return self.renderer.classes(self.world, self.eye, self.yaw, self.pitch, self._top)
