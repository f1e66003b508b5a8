"""Interactive play, headless: scripted keys drive the window; HumanPolicy maps input to the right actions."""

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from worldsim.policies import HumanPolicy
from worldsim.policies.human import action_from_input

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "keys, kw, expected",
    [
        ({"w"}, {}, [1, 0, 0]),
        ({"s", "left"}, {}, [2, 1, 0]),
        ({"a", "space"}, {}, [3, 0, 1]),
        ({"d", "up"}, {"left_click": True}, [4, 3, 2]),
        (set(), {"right_click": True, "mouse_dx": 10}, [0, 2, 3]),
        (set(), {"mouse_dy": 9}, [0, 4, 0]),
        (set(), {"mouse_dx": 1}, [0, 0, 0]),  # below the threshold: no look
    ],
)
def test_action_from_input(keys, kw, expected):
    assert action_from_input(keys, **kw).tolist() == expected


def test_human_policy_follows_pygame_events():
    import pygame

    pygame.init()
    pol = HumanPolicy(gym.spaces.MultiDiscrete([5, 5, 4]), num_envs=2)
    obs = np.zeros((2, 8, 8, 3), np.uint8)
    pol.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w))
    pol.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE))
    pol.handle_event(pygame.event.Event(pygame.MOUSEMOTION, rel=(-12, 0)))
    assert pol.act(obs).tolist() == [[1, 1, 1], [1, 1, 1]]
    pol.handle_event(pygame.event.Event(pygame.KEYUP, key=pygame.K_SPACE))
    pol.handle_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(0, 0)))
    assert pol.act(obs).tolist()[0] == [1, 0, 2]
    assert pol.act(obs).tolist()[0] == [1, 0, 0]  # a click is one action; W is still held
    pygame.quit()
    with pytest.raises(ValueError, match="MultiDiscrete"):
        HumanPolicy(gym.spaces.Discrete(3))


def test_play_runs_headless_with_scripted_keys(tiny_world_model, tmp_path):
    script = [[2, "c"], [6, "tab"], [8, "="], [9, "v"], [12, "v"], [13, "r"], [14, "p"]]
    args = [f"model={tiny_world_model}", "max_frames=16", "fps=1000", "scale=2", f"record_dir={tmp_path}",
            f"script={json.dumps(script)}"]  # fmt: skip
    env = {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "play.py"), *args], capture_output=True, text=True,
                       timeout=300, env={**__import__("os").environ, **env})  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["frames"] == 16 and out["view"] == "dream" and out["autopilot"] is True
    assert out["sampler_steps"] == 3 and len(out["recordings"]) == 1
    assert Path(out["recordings"][0]).stat().st_size > 1000
