"""Block types of the voxel world: ids, names, colours and properties.

Ids are stored as uint8 in the world array. Colours are the flat (unshaded) RGB of a block's side faces; tops
have their own colour where a block's top looks different (grass, snow), as in Minecraft.
"""

from __future__ import annotations

import numpy as np

AIR = 0
GRASS = 1
DIRT = 2
STONE = 3
SAND = 4
WATER = 5
LOG = 6
LEAVES = 7
SNOW = 8
BEDROCK = 9
PLANKS = 10
GRAVEL = 11

BLOCK_NAMES: tuple[str, ...] = (
    "air",
    "grass",
    "dirt",
    "stone",
    "sand",
    "water",
    "log",
    "leaves",
    "snow",
    "bedrock",
    "planks",
    "gravel",
)
NUM_BLOCKS = len(BLOCK_NAMES)

# Side-face colour of each block (row = block id).
SIDE_COLORS = np.array(
    [
        (0, 0, 0),  # air (never drawn)
        (121, 92, 58),  # grass: dirt sides
        (126, 88, 60),  # dirt
        (122, 122, 122),  # stone
        (219, 207, 153),  # sand
        (45, 90, 200),  # water
        (102, 70, 34),  # log: dark bark
        (58, 128, 40),  # leaves
        (236, 242, 245),  # snow
        (55, 55, 58),  # bedrock
        (180, 144, 88),  # planks
        (136, 128, 122),  # gravel
    ],
    dtype=np.float32,
)

# Top-face colour (grass is green on top; logs show their pale rings).
TOP_COLORS = SIDE_COLORS.copy()
TOP_COLORS[GRASS] = (94, 157, 52)
TOP_COLORS[LOG] = (160, 130, 80)
TOP_COLORS[SNOW] = (248, 250, 252)

# Solid blocks stop the player and the crosshair; water and air do neither.
SOLID = np.ones(NUM_BLOCKS, dtype=np.bool_)
SOLID[AIR] = False
SOLID[WATER] = False

# Blocks the player can break (everything solid but bedrock).
BREAKABLE = SOLID.copy()
BREAKABLE[BEDROCK] = False

# Blocks that can be placed from the inventory (anything breakable).
PLACEABLE = BREAKABLE.copy()
