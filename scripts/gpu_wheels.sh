#!/usr/bin/env bash
# Fill .whl/ with the pure-Python wheels that the GPU machine's image lacks (run here, where PyPI is reachable):
#
#     bash scripts/gpu_wheels.sh            # then the device run carries .whl (see scripts/gpu_train.sh)
#
# The GPU image has Python 3.12 with torch, numba, numpy, einops, safetensors, pyarrow, scikit-image, tqdm,
# tensorboard, matplotlib, pyyaml and cloudpickle, but no gymnasium, minari, hydra-core, omegaconf or pygame.
# The versions are the ones this project's venv runs, so that the device runs the code the tests ran.
# antlr4-python3-runtime (hydra's parser) has no wheel on the registry: it is built here with `pip wheel`.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.whl
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { echo "no $PY: run 'make setup' first (the wheels match the versions the project's venv runs)"; exit 2; }
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf "$DEST" && mkdir -p "$DEST"
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
PURE=(gymnasium farama-notifications minari hydra-core omegaconf)
specs=()
for p in "${PURE[@]}"; do specs+=("$p==$(version "$p")"); done
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any -d "$DEST" "${specs[@]}"
"$PY" -m pip wheel --quiet --no-deps -w "$DEST" "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
ls -la "$DEST"
du -sh "$DEST"
