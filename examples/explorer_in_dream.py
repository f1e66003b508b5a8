"""Does the explorer's chopping work in a dream? The probe behind issue 17's policy ranking.

python examples/explorer_in_dream.py model=voxel episodes=12 steps=200      # prints one JSON line

The explorer plays from the same starts in the real voxel world and in the dream (the same 47 real frames of
context), reading pixels alone in both (no ``info``). For each world it counts the *break* presses, those made with
a log under the crosshair by the explorer's own pixel test (``log_under_crosshair``), the paid rewards, and the
share of frames with a log under the crosshair. A dream where the explorer never sees a log under its crosshair
never pays it for chopping, and cannot rank it above policies that do nothing.
"""

import json
import sys

import numpy as np

from worldsim.dream import Dream
from worldsim.envs import make_env, real_env_of
from worldsim.policies import make_policy
from worldsim.policies.explorer import BREAK, log_under_crosshair
from worldsim.world_model import load_world_model


def probe(model: str = "voxel", episodes: int = 12, steps: int = 200, seed: int = 0) -> dict:
    wm = load_world_model(model)
    env = make_env(real_env_of(wm), wm.frame_shape)
    counts = {w: {"breaks": 0, "breaks_on_log": 0, "paid": 0, "frames": 0, "log_under_crosshair": 0}
              for w in ("real", "dream")}  # fmt: skip

    def note(world: str, frames: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        on_log = log_under_crosshair(frames)
        c = counts[world]
        c["breaks"] += int((actions[:, 2] == BREAK).sum())
        c["breaks_on_log"] += int(((actions[:, 2] == BREAK) & on_log).sum())
        c["paid"] += int((rewards > 0.5).sum())
        c["frames"] += len(frames)
        c["log_under_crosshair"] += int(on_log.sum())

    clips, clip_actions = [], []
    for i in range(episodes):
        pol = make_policy("explorer", env.action_space, 1, seed=seed + i)
        obs, _ = env.reset(seed=seed + i)
        frames, acts = [obs], []
        for _ in range(wm.window - 2):  # the dream's context: window - 1 real frames
            a = pol.act_single(obs, None)
            obs = env.step(a)[0]
            frames.append(obs)
            acts.append(a)
        clips.append(np.stack(frames))
        clip_actions.append(np.stack(acts))
        for _ in range(steps):
            a = pol.act_single(obs, None)
            after, r, term, trunc, _ = env.step(a)
            note("real", obs[None], a[None], np.array([r]))
            obs = after
            if term or trunc:
                break

    dream = Dream(wm, episodes, seeds=[seed + i for i in range(episodes)])
    dream.start(range(episodes), np.stack(clips), wm.flat_action_runs(np.stack(clip_actions)))
    pol = make_policy("explorer", env.action_space, episodes, seed=seed)
    obs = np.stack([c[-1] for c in clips])
    for _ in range(steps):
        a = pol.act(obs, None)
        stepped = dream.step(a)
        note("dream", obs, a, np.asarray(stepped.reward))
        obs = stepped.frames
    for c in counts.values():
        c["log_under_crosshair"] = round(c["log_under_crosshair"] / max(c["frames"], 1), 4)  # share of the frames
    return {"model": model, "episodes": episodes, "steps": steps, "seed": seed, **counts}


if __name__ == "__main__":
    kwargs = dict(arg.split("=", 1) for arg in sys.argv[1:])
    unknown = set(kwargs) - {"model", "episodes", "steps", "seed"}
    if unknown:
        sys.exit(f"unknown arguments {sorted(unknown)}; use model=, episodes=, steps=, seed=")
    try:
        typed = {k: (v if k == "model" else int(v)) for k, v in kwargs.items()}
    except ValueError as exc:
        sys.exit(f"episodes, steps and seed must be integers: {exc}")
    print(json.dumps(probe(**typed)))
