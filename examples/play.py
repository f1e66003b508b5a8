"""Play the voxel world and its dream side by side in a pygame window.

    python examples/play.py                      # same as: worldsim play
    python examples/play.py mode=dream scale=6   # any `worldsim play` override

WASD move, mouse/arrows look, space jump, left click break, right click place; Tab view, R restart, P pause,
C explorer autopilot, +/- sampler steps, V record, Esc quit.
"""

import sys

from worldsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["play", *sys.argv[1:]]))
