"""Train stable-baselines3 PPO only inside the dream, then score it in the real voxel world.

    python examples/ppo_in_dream.py timesteps=50000 num_envs=16     # same as: worldsim ppo ...

Compared in the same run with the random policy and with PPO trained as long in the real world.
"""

import sys

from worldsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["ppo", *sys.argv[1:]]))
