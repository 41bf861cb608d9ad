#!/usr/bin/env bash
# Installs keras-stw with its test dependencies into .venv, lints, and runs the test suite
# on the three Keras backends: everything on TensorFlow, then everything that does not need
# TensorFlow itself (tests marked tf_only: tf.data, SavedModel) on JAX and on PyTorch. Tests
# marked jax_only (the fused kernels against their keras.ops reference) run on JAX only.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch 2.13.0 is the CPU build; a plain `torch` would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0 -e ".[test]"

.venv/bin/ruff check .
.venv/bin/ruff format --check .

export TF_CPP_MIN_LOG_LEVEL=2
# The JAX processes of this run share their compiled XLA programs through a persistent
# cache that lives as long as the run: the example programs' tests start many processes
# that build and compile the same small models, and compiling was half of each one's time.
jax_cache="$(mktemp -d)"
trap 'rm -rf "$jax_cache"' EXIT
export JAX_COMPILATION_CACHE_DIR="$jax_cache" JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1
KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -n 2 -p no:cacheprovider -m "not jax_only" "$@"
KERAS_BACKEND=jax .venv/bin/python -m pytest -n 2 -p no:cacheprovider -m "not tf_only" "$@"
KERAS_BACKEND=torch .venv/bin/python -m pytest -n 2 -p no:cacheprovider -m "not tf_only and not jax_only" "$@"
