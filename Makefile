# The front door. `make demo` and `make test` work on a fresh machine: they create the virtual
# environment, build the Rust extension and install everything the project needs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export SAMARL_OUT ?= runs

.PHONY: demo test install test-rust test-python lint typecheck bench bench-rust bench-python wheel wheel-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Editable install: maturin builds the extension (release profile) into python/samarl.
install: $(VENV)/bin/python
	$(PIP) install -e ".[test,dev,torchrl,ray]"

## The main job: train agents and run them with consensus on the default scenario.
demo: install
	$(VENV)/bin/samarl demo --out $(SAMARL_OUT)/demo --overwrite

## All tests: Rust unit tests, then pytest (bindings, references, envs, training, CLI).
test: install test-rust test-python

test-rust:
	cargo test --workspace --locked

test-python:
	$(PY) -m pytest -q

lint: install
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches

typecheck: install
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m mypy.stubtest samarl._core

## Benchmarks (print measured ratios; not tests).
bench: bench-rust bench-python
bench-rust:
	cargo bench -p samarl-core
bench-python: install
	$(VENV)/bin/samarl bench kernels --json $(SAMARL_OUT)/bench/kernels.json
	$(PY) -m pytest benches/python -q --benchmark-enable -p no:cacheprovider

## One abi3 manylinux wheel in dist/ (fat LTO via the dist profile).
wheel: $(VENV)/bin/python
	$(PIP) install "maturin>=1.16,<2"
	$(VENV)/bin/maturin build --profile dist --locked --out dist

## Install the wheel into a fresh virtual environment and run a kernel with it.
wheel-test: wheel
	bash scripts/wheel_smoke.sh dist

clean:
	rm -rf $(VENV) target dist
