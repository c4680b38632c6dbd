#!/usr/bin/env bash
# Run the three benchmarks one after another - never two at once (the machine has 2 cores).
# Each prints a results table and writes bench/out/<name>.json; the console output is kept in bench/out/<name>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p bench/out
for name in cold_run cached_run scoring; do
    echo "=== bench/${name}.py ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
    "$PY" -m "bench.${name}" 2>&1 | tee "bench/out/${name}.txt"
done
