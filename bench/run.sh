#!/usr/bin/env bash
# bench/run.sh BUILD_DIR — runs every benchmark program (BUILD_DIR/bench/bench_*) with one
# BLAS thread and prints their tables. Benchmarks are not tests: they measure, they do not
# assert. Each program prints lines "name | value | unit | notes".
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export OPENBLAS_NUM_THREADS=1 CLSWEEP_BLAS_THREADS=1
echo "clsweep benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    echo
    echo "## $(basename "$b")"
    "$b" || echo "$(basename "$b") failed with exit code $?"
done
if [ -f bench/torch_reference.py ]; then
    PY=$(tools/find_python.sh 2>/dev/null)
    if [ -n "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
        echo; echo "## torch_reference.py"
        "$PY" bench/torch_reference.py
    fi
fi
