"""The whole recipe on a world worldsim does not know: examples/paddle_world.py (Box actions, non-square frames),
registered by its own module and named in Gymnasium's ``module:Env-vN`` form, from `worldsim record` to
``gym.make("worldsim/Dream-v0", model=<run folder>)``, each stage through the command line, a few steps each."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cli(*args: str, cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{EXAMPLES}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    p = subprocess.run([sys.executable, "-m", "worldsim.cli", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, f"worldsim {' '.join(args)}:\n{p.stderr[-3000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def paddle_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("paddle")
    rec = cli("record", "env_id=paddle_world:Paddle-v0", "env_kwargs={height:16,width:24}",
              "dataset_id=paddle/random-v0", "policies={random:1.0}", "episodes=8", "max_episode_steps=30",
              "processes=1", "progress=false", cwd=work)  # fmt: skip
    assert rec["episodes"] == 8
    vae = cli("train-vae", "dataset_id=paddle/random-v0", "run_dir=runs/vae", "steps=30", "batch_size=8",
              "eval_frames=8", "progress=false", "threads=1", "arch.downsample=4", "arch.latent_channels=4",
              "arch.widths=[8,16]", "arch.decoder_widths=[8,16]", cwd=work)  # fmt: skip
    assert vae["step"] == 30
    cli("encode", "dataset_id=paddle/random-v0", "vae=runs/vae", "out=data/latents/paddle", "progress=false",
        cwd=work)  # fmt: skip
    dit = cli("train", "latents=data/latents/paddle", "vae=runs/vae", "run_dir=runs/dit", "dit=tiny", "window=4",
              "sampler.context=3", "steps=20", "batch_size=4", "progress=false", "threads=1", "sample_every=1000",
              cwd=work)  # fmt: skip
    assert dit["step"] == 20
    return work


def test_a_user_world_goes_from_recording_to_a_dream_env(paddle_run):
    from gymnasium.utils.env_checker import check_env

    from worldsim.checkpoint import load_model

    sys.path.insert(0, str(EXAMPLES))
    try:
        config, _, extra = load_model(paddle_run / "runs" / "dit" / "model.safetensors", "dit")
        assert config["action_space"]["type"] == "Box" and config["latent_shape"][1:] == [4, 6]
        assert extra["info"]["env_id"] == "Paddle-v0"  # the model names its real world
        assert config["reward_values"] in (None, [0.0, 1.0])  # the recording's own rewards
        env = gym.make("worldsim/Dream-v0", model=str(paddle_run / "runs" / "dit"),
                       dataset_root=str(paddle_run / "data" / "minari"),
                       real_env_id="paddle_world:Paddle-v0")  # fmt: skip
        obs, _ = env.reset(seed=0)  # starts from a held-out clip of the run's own dataset
        assert obs.shape == (16, 24, 3) and obs.dtype == np.uint8
        a, b = env.step(np.array([1.0, -1.0], np.float32)), env.step(np.array([-1.0, 1.0], np.float32))
        assert a[0].shape == b[0].shape == (16, 24, 3) and np.isfinite(a[1])
        with pytest.raises(ValueError, match="action"):
            env.step(np.array([5.0, 0.0], np.float32))  # outside the Box
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_import_option_registers_the_users_envs_and_odd_frame_sizes_are_flagged(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{EXAMPLES}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = [sys.executable, "-m", "worldsim.cli", "--import", "paddle_world", "record", "env_id=Paddle-v0",
            "env_kwargs={height:20,width:24}", "dataset_id=paddle/odd-v0", f"root={tmp_path}", "policies={random:1.0}",
            "episodes=1", "max_episode_steps=5", "processes=1", "progress=false"]  # fmt: skip
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1])["episodes"] == 1  # the bare id, registered by --import
    assert "frames of 20x24 are not a multiple of 8" in p.stderr and "arch.downsample=4" in p.stderr
    p = subprocess.run([sys.executable, "-m", "worldsim.cli", "--import", "no_such_module_x", "record"], env=env,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 2 and "cannot import" in p.stderr and "Traceback" not in p.stderr
