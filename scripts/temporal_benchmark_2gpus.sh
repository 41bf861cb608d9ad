#!/usr/bin/env bash
# The temporal benchmark's `--full` size (five models x 3 seeds, ResNet-50 at 224, bf16)
# on one host with two GPUs, JAX: one process per GPU, each running half of the 15
# (model, seed) runs on the same generated data (same --data-seed), then one merged table,
# chart and JSON in OUTPUT_DIR. Each process writes its log to OUTPUT_DIR/gpuK.log.
#   bash scripts/temporal_benchmark_2gpus.sh [OUTPUT_DIR [ARGS...]]   (PYTHON=... picks the venv)
# ARGS go to both processes (e.g. --epochs 20).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/temporal_benchmark_full}
shift $(($# > 0 ? 1 : 0))
python=${PYTHON:-python}
mkdir -p "$out"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
pids=()
for k in 0 1; do
  # The persistent compilation cache compiles each model once, not once per seed.
  CUDA_VISIBLE_DEVICES=$k JAX_COMPILATION_CACHE_DIR="$out/jax_cache$k" \
    "$python" examples/temporal_benchmark.py --full --shard "$k/2" --output-dir "$out/gpu$k" \
    "$@" > "$out/gpu$k.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
"$python" examples/temporal_benchmark.py --combine "$out/gpu0" "$out/gpu1" --output-dir "$out"
