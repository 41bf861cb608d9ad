#!/usr/bin/env bash
# The temporal benchmark's `--full` size (five models x 3 seeds, ResNet-50 at 224, bf16)
# on one host with two GPUs, JAX: one process per GPU, each running its slice of the 15
# (model, seed) runs on the same generated data (same --data-seed), then one merged table,
# chart and JSON in OUTPUT_DIR. Process k writes OUTPUT_DIR/shardK/ and OUTPUT_DIR/shardK.log.
#   bash scripts/temporal_benchmark_2gpus.sh [OUTPUT_DIR [ARGS...]]   (PYTHON=... picks the venv)
# ARGS go to both processes (e.g. --epochs 20). To split the runs over several sessions
# of the host, SHARDS=4 FIRST=0 runs slices 0/4 and 1/4, SHARDS=4 FIRST=2 slices 2/4 and
# 3/4; each merges the slices present in OUTPUT_DIR, so the last one gives the whole table
# when all slices' folders are there (or merge them with --combine).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/temporal_benchmark_full}
shift $(($# > 0 ? 1 : 0))
python=${PYTHON:-python}
shards=${SHARDS:-2}
first=${FIRST:-0}
mkdir -p "$out"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
pids=()
for gpu in 0 1; do
  shard=$((first + gpu))
  # The persistent compilation cache compiles each model once, not once per seed.
  CUDA_VISIBLE_DEVICES=$gpu JAX_COMPILATION_CACHE_DIR="$out/jax_cache$gpu" \
    "$python" examples/temporal_benchmark.py --full --shard "$shard/$shards" \
    --output-dir "$out/shard$shard" "$@" > "$out/shard$shard.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
"$python" examples/temporal_benchmark.py --combine "$out"/shard*/ --output-dir "$out"
