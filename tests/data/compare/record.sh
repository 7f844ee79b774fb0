#!/usr/bin/env bash
# Two real tvl-bench runs, A and B, of three primitives benchmarks, all pinned to CPU 1. Each
# side is three runs of 3 repetitions (the quick profile's), alternated A, B, A, B, A, B so
# that a change in the machine's load falls on both sides. In B, asyncloop/handle/pinned:1 runs
# with a busy loop pinned on the same CPU (it gets about half the CPU); the other two run as in A.
set -euo pipefail
bench=${TVL_BENCH:-build/release/tvl-bench}
out=${1:-tests/data/compare}
rm -rf "$out/a" "$out/b"; mkdir -p "$out/a" "$out/b"
run() {  # run FILE FILTER
  taskset -c 1 "$bench" --benchmark_filter="$2" --benchmark_out="$1" --benchmark_out_format=json >/dev/null
}
for i in 1 2 3; do
  run "$out/a/run$i.json" '^primitives/(threads/semaphore|asyncloop/post|asyncloop/handle)/pinned:1/'
  run "$out/b/unchanged$i.json" '^primitives/(threads/semaphore|asyncloop/post)/pinned:1/'
  taskset -c 1 bash -c 'while :; do :; done' &
  busy=$!
  run "$out/b/slowed$i.json" '^primitives/asyncloop/handle/pinned:1/'
  kill "$busy"; wait "$busy" 2>/dev/null || true
done
