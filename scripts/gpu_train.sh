#!/usr/bin/env bash
# The prepared one-shot GPU run: install what a bare CUDA PyTorch machine lacks, then `worldsim gpu-run`
# (worldsim/train/gpu_run.py: record, encode, train to a wall-clock budget, export, score, bench) into $OUT.
#
# Here, once per session (PyPI is reachable here, not there):   bash scripts/gpu_wheels.sh
# Then, through the device tool, one call:                      bash scripts/gpu_train.sh      (carry: [".whl"])
# Back here:                                                    bash scripts/gpu_unpack.sh <files_at>
# On a CPU, the same path in tiny mode (the test suite runs it): OUT=/tmp/o bash scripts/gpu_train.sh tiny=true
#
# Extra arguments are `worldsim gpu-run` overrides (minutes=..., models=..., extra_episodes=...).
set -uo pipefail
START=$(date +%s.%N)
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/outputs/gpu-run}
WORK=${GPU_WORK:-/tmp/worldsim-gpu-work}
PY=${PYTHON:-python3}
SITE=${GPU_SITE:-/tmp/worldsim-site}
mkdir -p "$OUT" "$WORK"
log() { echo "[gpu_train.sh $(date +%T)] $*" | tee -a "$OUT/log.txt"; }

# 1. the pure-Python packages the image lacks, from the carried wheels; then the project itself
if ! "$PY" -c "import gymnasium, minari, hydra, omegaconf" 2>/dev/null; then
    ls "$REPO"/.whl/*.whl >/dev/null 2>&1 || { log "no wheels in .whl/: run scripts/gpu_wheels.sh here and carry .whl"; exit 2; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$REPO"/.whl/*.whl || exit 2
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! (cd "$WORK" && "$PY" -c "import worldsim.envs") 2>/dev/null; then
    SRC=$(mktemp -d)  # build from a copy: a build writes build/ and *.egg-info beside the sources
    tar -C "$REPO" --exclude=./.git --exclude=./.whl --exclude=./.venv --exclude=./outputs --exclude=./data --exclude=./runs \
        -cf - . | tar -C "$SRC" -xf -
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --target "$SITE" "$SRC" || exit 2
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
(cd "$WORK" && "$PY" -c "import worldsim.envs, minari, hydra") || { log "worldsim does not import"; exit 2; }
log "installed in $(awk "BEGIN {print $(date +%s.%N) - $START}")s; python $("$PY" -V 2>&1)"
command -v nvidia-smi >/dev/null && nvidia-smi -L | tee -a "$OUT/log.txt"

# 2. the run, from a folder outside the repository (so that the installed package is the one imported)
cd "$WORK" && exec "$PY" -m worldsim.cli gpu-run out="$OUT" work="$WORK" started="$START" "$@"
