#!/usr/bin/env bash
# Installs keras-stw into .venv and runs the main job: the temporal benchmark (TSN, TSM and
# STW x 3 seeds; --full adds STFM only and TWM only) on generated videos. Extra arguments go to
# examples/temporal_benchmark.py (e.g. --full on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[demo]"

export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python examples/temporal_benchmark.py "$@"
