# worldsim: `make demo` and `make test` set everything up on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench soak lint clean

setup: $(STAMP)

# torch first, pinned to the CPU wheel on this machine's disk; then the package with its dev extras.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/worldsim demo

test: setup
	$(PY) -m pytest -m "not slow" -q

test-slow: setup
	$(PY) -m pytest -m slow -q

bench: setup
	$(VENV)/bin/worldsim bench env

# 10,000 dream steps at batch 1 and 32 envs x 2,000 steps: finite, flat in memory, the real world's brightness
# (`make soak MODEL=voxel-still`: another shipped model or a model folder)
MODEL ?= voxel
soak: setup
	mkdir -p outputs && $(VENV)/bin/worldsim bench soak model=$(MODEL) soak.sheet=outputs/soak.png | tee outputs/soak.json | tail -1 | $(PY) -c "import json, sys; r = json.loads(sys.stdin.read()); print('soak passed' if r['passed'] else 'soak FAILED'); sys.exit(0 if r['passed'] else 1)"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) outputs .pytest_cache
