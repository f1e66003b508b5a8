#!/usr/bin/env bash
# The whole recipe on a world worldsim does not know (examples/paddle_world.py: Box actions, 48x80 frames), from
# recording to a dream env, timing each stage. Run from the repository root: bash examples/paddle_recipe.sh
set -euo pipefail
export PYTHONPATH="$(pwd)/examples${PYTHONPATH:+:$PYTHONPATH}"   # where the env's own module lives
W=${WORLDSIM:-.venv/bin/worldsim}
PY=${PYTHON:-.venv/bin/python}
stage() { local t=$SECONDS; echo "== $*" >&2; "$W" "$@" | tail -1; echo "   ($((SECONDS - t)) s)" >&2; }

stage record env_id=paddle_world:Paddle-v0 dataset_id=paddle/random-v0 "policies={random:1.0}" episodes=60 \
  progress=false
stage train-vae dataset_id=paddle/random-v0 run_dir=runs/vae-paddle steps=1500 eval_every=500 progress=false
stage encode dataset_id=paddle/random-v0 vae=runs/vae-paddle out=data/latents/paddle progress=false
stage train latents=data/latents/paddle vae=runs/vae-paddle run_dir=runs/dit-paddle dit=tiny steps=3000 \
  sample_every=1000 progress=false log_every=500
stage eval model=runs/dit-paddle horizon=8 clips=32 out=outputs/eval-paddle
"$PY" - <<'PY'
import gymnasium as gym
import worldsim  # noqa: F401
dream = gym.make("worldsim/Dream-v0", model="runs/dit-paddle", real_env_id="paddle_world:Paddle-v0")
obs, info = dream.reset(seed=0)  # a held-out clip of the run's own recording
for _ in range(10):
    obs, reward, terminated, truncated, info = dream.step(dream.action_space.sample())
print("Dream-v0 on runs/dit-paddle:", obs.shape, obs.dtype, "reward", reward)
PY
