#!/usr/bin/env bash
# perf/run.sh [BUILD_DIR] [--isa "native avx2"] [--wall] [--rounds N] [--no-torch] [--no-rss]
#             [--no-sched] [--no-million] [--million-full] [--no-vdv] — `make bench`:
# for each ISA setting of --isa (default "native avx2"), runs every performance program
# (BUILD_DIR/perf/perf_*) and the PyTorch reference (perf/torch_reference.py, Debian
# python3-torch: tools/deps.sh --bench) with one BLAS/OMP thread, prints their full output,
# then ONE table per setting (perf/table.py): per row the ISA level the kernels ran at, the
# roofline bound that applies (sgemm peak or triad bandwidth, both measured by
# perf_roofline in the same run), FLOPs and bytes per unit, the fraction of the bound,
# PyTorch's throughput, the ratio, the target and met/not met; then the peak RSS of one
# `clsweep single` run per model and the scheduler benchmarks (perf/sched.sh), once; then the
# million-run benchmark (perf/million.sh: 20,000 no-op runs; --million-full: 10^6).
#
# ISA settings: "native" = what the CPU has; scalar|sse|avx2|avx512 caps both sides as on a
# machine with that ISA: CLSWEEP_ISA (clsweep's kernels), OPENBLAS_CORETYPE (OpenBLAS's
# kernels: Haswell for avx2, Nehalem for sse/scalar, SkylakeX for avx512),
# ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA (PyTorch's kernels and convolutions).
#
# Clock: on a shared machine wall time measures the other users' load, so by default the
# table's programs run with perf/shim/cpuclock.so preloaded (their CLOCK_MONOTONIC timer
# reads process CPU time) and the reference uses time.process_time; --wall measures wall
# time on both sides. The table programs and the reference alternate for N rounds
# (default 3) and the best value of each line is kept, so both see the same load.
# Raw outputs stay in BUILD_DIR/perf-out/ISA/.
set -u
cd "$(dirname "$0")/.."
BUILD=build
CLOCK=cpu
ROUNDS=3
TORCH=1
RSS=1
SCHED=1
MILLION=1
MILLION_ARGS=
VDV=1
ISAS="native avx2"
while [ $# -gt 0 ]; do
    case $1 in
        --wall) CLOCK=wall ;;
        --rounds) ROUNDS=$2; shift ;;
        --isa) ISAS=$2; shift ;;
        --no-torch) TORCH=0 ;;
        --no-rss) RSS=0 ;;
        --no-sched) SCHED=0 ;;
        --no-million) MILLION=0 ;;
        --million-full) MILLION_ARGS=--full ;;
        --no-vdv) VDV=0 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        -*) echo "perf/run.sh: unknown option '$1'" >&2; exit 2 ;;
        *) BUILD=$1 ;;
    esac
    shift
done
export OPENBLAS_NUM_THREADS=1 CLSWEEP_BLAS_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUTROOT=$BUILD/perf-out
rm -rf "$OUTROOT"
mkdir -p "$OUTROOT"
OUT=$OUTROOT
TABLE_PROGS=(perf_roofline perf_mlp perf_ewgn perf_gated perf_pah perf_hsf)
for isa in $ISAS; do
    case $isa in
        native|scalar|sse|avx2|avx512) ;;
        *) echo "perf/run.sh: --isa: '$isa' is not one of native, scalar, sse, avx2, avx512" >&2; exit 2 ;;
    esac
done

PRELOAD=
if [ "$CLOCK" = cpu ]; then
    if cc -O2 -shared -fPIC -o "$BUILD/perf/cpuclock.so" perf/shim/cpuclock.c -ldl 2>"$OUT/shim.log"; then
        PRELOAD=$PWD/$BUILD/perf/cpuclock.so
    else
        echo "perf/run.sh: cannot build the CPU-clock shim ($(head -n1 "$OUT/shim.log")); timing wall clock" >&2
        CLOCK=wall
    fi
fi
PY=$(tools/find_python.sh 2>/dev/null)
[ -n "$PY" ] || PY=$(command -v python3)
if [ $TORCH -eq 1 ] && ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "perf/run.sh: $PY cannot import torch (Debian: tools/deps.sh --bench); no PyTorch reference" >&2
    TORCH=0
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "clsweep benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(getconf _NPROCESSORS_ONLN) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "clock: $CLOCK; one BLAS/OMP thread; $ROUNDS round(s) alternating clsweep and PyTorch"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

FIRST_ISA=${ISAS%% *}
for isa in $ISAS; do
    OUT=$OUTROOT/$isa
    mkdir -p "$OUT"
    (
    if [ "$isa" != native ]; then
        export CLSWEEP_ISA=$isa ATEN_CPU_CAPABILITY=default
        case $isa in
            avx512) export OPENBLAS_CORETYPE=SkylakeX ATEN_CPU_CAPABILITY=avx512 ONEDNN_MAX_CPU_ISA=AVX512_CORE DNNL_MAX_CPU_ISA=AVX512_CORE ;;
            avx2) export OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ;;
            *) export OPENBLAS_CORETYPE=Nehalem ONEDNN_MAX_CPU_ISA=SSE41 DNNL_MAX_CPU_ISA=SSE41 ;;
        esac
    fi
    echo
    echo "# ISA setting $isa: CLSWEEP_ISA=${CLSWEEP_ISA:-unset} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-unset} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset}"
    for r in $(seq 1 "$ROUNDS"); do
        for b in "$BUILD"/perf/perf_*; do
            [ -x "$b" ] || continue
            name=$(basename "$b")
            intable=0
            for p in "${TABLE_PROGS[@]}"; do [ "$p" = "$name" ] && intable=1; done
            [ $intable -eq 0 ] && { [ "$r" -gt 1 ] || [ "$isa" != "$FIRST_ISA" ]; } && continue   # others: once, wall time
            echo
            echo "## $name (round $r, ISA $isa)"
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
            echo "## torch_reference.py (round $r, ISA $isa)"
            "$PY" perf/torch_reference.py --clock "$CLOCK" > "$OUT/$r.torch_reference.txt" 2>&1
            rc=$?
            cat "$OUT/$r.torch_reference.txt"
            [ $rc -eq 0 ] || echo "torch_reference.py failed with exit code $rc"
        fi
    done
    )
done
OUT=$OUTROOT

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

# clsweep vs van de Ven et al.'s reference implementation on the same Split-MNIST runs
# (tools/vandeven_ratio.sh: the two alternate; CPU and wall ratio). Needs the reference's
# git mirror and python3-torch; --no-torch or --no-vdv leaves it out.
if [ $TORCH -eq 1 ] && [ $VDV -eq 1 ] && [ -x "$BUILD/clsweep" ]; then
    echo
    echo "## clsweep vs the reference implementation (tools/vandeven_ratio.sh)"
    if git --git-dir="${VDV_GIT:-/work/.mirror/GMvandeVen+continual-learning/repo}" rev-parse -q \
        --verify e6d795a >/dev/null 2>&1; then
        tools/vandeven_ratio.sh "$OUT/vandeven_ratio.txt" "0" "none er" 2>&1
    else
        echo "skipped: no git mirror of GMvandeVen/continual-learning (set VDV_GIT)"
    fi
fi

# The scheduler (wall clock: dispatch, CPU share, parallel efficiency, makespan).
if [ $SCHED -eq 1 ] && [ -x "$BUILD/clsweep" ]; then
    echo
    echo "## scheduler (perf/sched.sh)"
    perf/sched.sh "$BUILD" 2>&1 | tee "$OUT/sched.txt"
fi
# A million runs (issue 23): expansion, dispatch rate, master RSS, file sizes.
if [ $MILLION -eq 1 ] && [ -x "$BUILD/clsweep" ]; then
    echo
    echo "## a million runs (perf/million.sh $MILLION_ARGS)"
    perf/million.sh "$BUILD" $MILLION_ARGS 2>&1 | tee "$OUT/million.txt"
fi

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## summary (best of $ROUNDS round(s); clock: $CLOCK)"
echo
if [ -n "$PY" ]; then
    LAST_ISA=${ISAS##* }
    for isa in $ISAS; do
        echo "### ISA setting: $isa"
        echo
        if [ "$isa" = "$LAST_ISA" ]; then
            "$PY" perf/table.py "$OUTROOT/$isa" "$OUTROOT"   # + RSS and scheduler tables
        else
            "$PY" perf/table.py "$OUTROOT/$isa" "$OUTROOT/$isa"
        fi
        echo
    done
else
    echo "(no python3 for perf/table.py; raw outputs in $OUTROOT)"
fi
