"""Score a policy in the real voxel world and in its dream, from the same seeds and start clips.

python examples/evaluate_policy.py policy=explorer episodes=10     # same as: worldsim evaluate ...
python examples/evaluate_policy.py policy=runs/ppo/ppo_dream.zip
"""

import sys

from worldsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
