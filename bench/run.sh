#!/usr/bin/env bash
# bench/run.sh [BUILD_DIR] [--wall] [--rounds N] [--no-torch] [--no-rss] [--no-sched] — `make bench`:
# runs every benchmark program (BUILD_DIR/bench/bench_*) and the PyTorch reference
# (bench/torch_reference.py, Debian python3-torch: tools/deps.sh --bench) with one BLAS/OMP
# thread, prints their full output, then ONE table (bench/table.py): per model clsweep's
# throughput, GFLOP/s, fraction of the single-core sgemm peak, PyTorch's throughput, the
# ratio and the target; and the peak RSS of one `clsweep single` run per model at its paper
# setting; then the scheduler benchmarks (bench/sched.sh). Benchmarks are not tests: they
# measure, they do not assert.
#
# Clock: on a shared machine wall time measures the other users' load, so by default the
# table's programs run with bench/shim/cpuclock.so preloaded (their CLOCK_MONOTONIC timer
# reads process CPU time) and the reference uses time.process_time; --wall measures wall
# time on both sides. The table programs and the reference alternate for N rounds
# (default 3) and the best value of each line is kept, so both see the same load.
# Raw outputs stay in BUILD_DIR/bench-out/.
set -u
cd "$(dirname "$0")/.."
BUILD=build
CLOCK=cpu
ROUNDS=3
TORCH=1
RSS=1
SCHED=1
while [ $# -gt 0 ]; do
    case $1 in
        --wall) CLOCK=wall ;;
        --rounds) ROUNDS=$2; shift ;;
        --no-torch) TORCH=0 ;;
        --no-rss) RSS=0 ;;
        --no-sched) SCHED=0 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "bench/run.sh: unknown option '$1'" >&2; exit 2 ;;
        *) BUILD=$1 ;;
    esac
    shift
done
export OPENBLAS_NUM_THREADS=1 CLSWEEP_BLAS_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=$BUILD/bench-out
rm -rf "$OUT"
mkdir -p "$OUT"
TABLE_PROGS=(bench_mlp bench_ewgn bench_gated bench_pah bench_hsf)

PRELOAD=
if [ "$CLOCK" = cpu ]; then
    if cc -O2 -shared -fPIC -o "$BUILD/bench/cpuclock.so" bench/shim/cpuclock.c -ldl 2>"$OUT/shim.log"; then
        PRELOAD=$PWD/$BUILD/bench/cpuclock.so
    else
        echo "bench/run.sh: cannot build the CPU-clock shim ($(head -n1 "$OUT/shim.log")); timing wall clock" >&2
        CLOCK=wall
    fi
fi
PY=$(tools/find_python.sh 2>/dev/null)
[ -n "$PY" ] || PY=$(command -v python3)
if [ $TORCH -eq 1 ] && ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "bench/run.sh: $PY cannot import torch (Debian: tools/deps.sh --bench); no PyTorch reference" >&2
    TORCH=0
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "clsweep benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(getconf _NPROCESSORS_ONLN) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "clock: $CLOCK; one BLAS/OMP thread; $ROUNDS round(s) alternating clsweep and PyTorch"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

for r in $(seq 1 "$ROUNDS"); do
    for b in "$BUILD"/bench/bench_*; do
        [ -x "$b" ] || continue
        name=$(basename "$b")
        intable=0
        for p in "${TABLE_PROGS[@]}"; do [ "$p" = "$name" ] && intable=1; done
        [ "$r" -gt 1 ] && [ $intable -eq 0 ] && continue   # others: once, on wall time
        echo
        echo "## $name (round $r)"
        if [ $intable -eq 1 ] && [ -n "$PRELOAD" ]; then
            LD_PRELOAD=$PRELOAD "$b" > "$OUT/$r.$name.txt" 2>&1
        else
            "$b" > "$OUT/$r.$name.txt" 2>&1
        fi
        rc=$?
        cat "$OUT/$r.$name.txt"
        [ $rc -eq 0 ] || echo "$name failed with exit code $rc"
    done
    if [ $TORCH -eq 1 ]; then
        echo
        echo "## torch_reference.py (round $r)"
        "$PY" bench/torch_reference.py --clock "$CLOCK" > "$OUT/$r.torch_reference.txt" 2>&1
        rc=$?
        cat "$OUT/$r.torch_reference.txt"
        [ $rc -eq 0 ] || echo "torch_reference.py failed with exit code $rc"
    fi
done

# Peak RSS of one run per model at its paper setting. Every buffer is allocated at init,
# so one epoch/block per task reaches the same peak as the full-length run.
if [ $RSS -eq 1 ] && [ -x "$BUILD/clsweep" ] && [ -x /usr/bin/time ]; then
    echo
    echo "## peak RSS (clsweep single, /usr/bin/time)"
    : > "$OUT/rss.txt"
    while IFS='|' read -r model args; do
        cmd="clsweep single $args"
        /usr/bin/time -f '%M' -o "$OUT/rss-$model.time" "$BUILD/clsweep" single $args \
            > "$OUT/rss-$model.log" 2>&1
        kb=$(tail -n1 "$OUT/rss-$model.time")
        grep -q '^acc ' "$OUT/rss-$model.log" || kb="failed"
        echo "$model | $kb | $cmd" | tee -a "$OUT/rss.txt"
    done <<'EOF'
finetune|--model finetune --benchmark split_mnist --set benchmark.block_size=1
ewc|--model ewc --benchmark split_mnist --set benchmark.block_size=1
ewgn|--model ewgn --benchmark mnist_fashion --set benchmark.block_size=1
gated|--model gated --benchmark teacher_student
pah|--model pah --benchmark split_mnist --set benchmark.block_size=1
hsf|--model hsf --benchmark curves3d --set benchmark.block_size=5
EOF
fi

# The scheduler (wall clock: dispatch, CPU share, parallel efficiency, makespan).
if [ $SCHED -eq 1 ] && [ -x "$BUILD/clsweep" ]; then
    echo
    echo "## scheduler (bench/sched.sh)"
    bench/sched.sh "$BUILD" 2>&1 | tee "$OUT/sched.txt"
fi

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## summary (best of $ROUNDS round(s); clock: $CLOCK)"
echo
if [ -n "$PY" ]; then
    "$PY" bench/table.py "$OUT"
else
    echo "(no python3 for bench/table.py; raw outputs in $OUT)"
fi
