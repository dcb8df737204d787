#!/usr/bin/env bash
# perf/sched.sh [BUILD_DIR] — scheduler benchmarks (run by `make bench` via perf/run.sh;
# standalone: perf/sched.sh build). Wall clock: scheduling is about wall time.
#
#  1. dispatch rate: N no-op runs (crashtest mode ok, no isolation, no analysis) through
#     1 master + 1 worker (-np 2) and 1 master + 2 workers (-np 3), NetCDF output on (the
#     journal and the final .nc write are inside the timed span); one process (-np 1) for
#     comparison; and with run isolation (a fork per run) on 1 worker.
#  2. master CPU share while 2 workers compute equal compute-bound runs (crashtest.work).
#  3. parallel efficiency: the same equal runs on 1 worker vs 2 workers, T1 / (2·T2); and
#     the utilisation the scheduler reports (sum of run times / (workers × wall)).
#  4. makespan of unequal runs on 2 workers against the lower bound max(Σt/2, max t) and
#     against an ideal longest-first (LPT) schedule of the same measured run times.
# Environment: CLSWEEP_BENCH_SCHED_N (no-op runs, default 20000), CLSWEEP_BENCH_SCHED_REPS
# (repetitions, best kept, default 3), CLSWEEP_BENCH_SCHED_WORK (Mops per equal run,
# default 1200 ≈ 2.2 s here). Prints "sched_* key=value" summary lines for perf/table.py.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CLS=$PWD/$BUILD/clsweep
N=${CLSWEEP_BENCH_SCHED_N:-20000}
REPS=${CLSWEEP_BENCH_SCHED_REPS:-3}
WORK=${CLSWEEP_BENCH_SCHED_WORK:-1200}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 CLSWEEP_BLAS_THREADS=1 CLSWEEP_SCHED_REPORT=1 CLSWEEP_CPU_REPORT=1
[ -x "$CLS" ] || { echo "perf/sched.sh: $CLS not built (make BUILD=$BUILD all)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "perf/sched.sh: no mpirun" >&2; exit 2; }
PY=$(tools/find_python.sh 2>/dev/null)
W=$(mktemp -d /tmp/clsweep-bench-sched.XXXXXX)
trap 'rm -rf "$W"' EXIT

# sweep NAME GRID/ZIP_YAML DEFAULTS_YAML ISOLATE → $W/NAME.yaml writing $W/NAME.nc
sweep() {
    cat > "$W/$1.yaml" <<EOF
name: $1
benchmark: {name: teacher_student, blocks: 1, block_size: 1, batch: 1, test_size: 1}
models: [crashtest]
seeds: 1
defaults: {analysis.when: none$3}
$2
options: {isolate: $4, quiet: true}
output: $W/$1.nc
EOF
}

# launch NP NAME → runs it fresh; prints the scheduler and CPU lines; log in $W/NAME.NP.log
launch() {
    rm -f "$W/$2.nc" "$W/$2.nc.journal"
    timeout 600 mpirun -np "$1" "$CLS" run "$W/$2.yaml" > "$W/$2.$1.log" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || { echo "  (np $1 $2 failed: exit $rc)"; tail -n 5 "$W/$2.$1.log" | sed 's/^/  /'; }
}
field() {  # field LOG REGEX → first capture group
    sed -nE "s/$2/\\1/p" "$1" | head -n1
}

echo "scheduler benchmarks — $(getconf _NPROCESSORS_ONLN) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# 1. dispatch rate
sweep noop "grid:
  crashtest.at_stage: {range: [0, $N, 1]}" "" false
echo "### dispatch rate: $N no-op runs, NetCDF + journal on (best of $REPS)"
for np in 1 2 3; do
    best=0
    for r in $(seq 1 "$REPS"); do
        launch $np noop
        rate=$(field "$W/noop.$np.log" '.*scheduler: [0-9]+ runs in [0-9.]+ s \(([0-9.]+) runs\/s\).*')
        mcpu=$(field "$W/noop.$np.log" '.*master [0-9.]+ \(([0-9.]+)%\).*')
        echo "  np $np ($((np > 1 ? np - 1 : 1)) worker(s)$([ $np -eq 1 ] && echo ', master runs them'))," \
             "round $r: ${rate:-?} runs/s, master CPU ${mcpu:-?}% of wall"
        if [ -n "$rate" ] && awk "BEGIN{exit !($rate > $best)}"; then best=$rate; fi
    done
    echo "sched_dispatch_np$np=$best"
done
NI=$((N / 10))
sweep noopiso "grid:
  crashtest.at_stage: {range: [0, $NI, 1]}" "" true
launch 2 noopiso
rate=$(field "$W/noopiso.2.log" '.*scheduler: [0-9]+ runs in [0-9.]+ s \(([0-9.]+) runs\/s\).*')
echo "  np 2 with isolation (one fork per run), $NI runs: ${rate:-?} runs/s"
echo "sched_dispatch_isolated_np2=${rate:-0}"
echo

# 2 + 3. equal compute-bound runs on 1 and 2 workers
sweep equal "grid:
  crashtest.at_stage: {range: [0, 8, 1]}" ", crashtest.work: $WORK" true
echo "### 8 equal runs of $WORK Mops (crashtest.work), isolated (best of 2)"
t1=0 t2=0 mcpu=""
for np in 2 3; do
    best=""
    for r in 1 2; do
        launch $np equal
        t=$(field "$W/equal.$np.log" '.*scheduler: [0-9]+ runs in ([0-9.]+) s.*')
        u=$(field "$W/equal.$np.log" '.*= ([0-9.]+)% of workers x wall.*')
        c=$(field "$W/equal.$np.log" '.*master CPU while dispatching [0-9.]+ s = ([0-9.]+)%.*')
        echo "  $((np - 1)) worker(s), round $r: ${t:-?} s, workers busy ${u:-?}%, master CPU while dispatching ${c:-?}%"
        if [ -n "$t" ] && { [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; }; then
            best=$t
            [ $np -eq 3 ] && mcpu=$c && util2=$u
        fi
    done
    [ $np -eq 2 ] && t1=$best || t2=$best
done
eff=$(awk "BEGIN{ if ($t2 > 0) printf \"%.3f\", $t1 / (2 * $t2); else print 0 }")
echo "  parallel efficiency T1/(2·T2) = $t1 / (2 × $t2) = $eff"
echo "sched_master_cpu_pct=${mcpu:-0}"
echo "sched_efficiency=$eff"
echo "sched_utilisation_2w=${util2:-0}"
echo

# 4. unequal runs: makespan vs bounds
UW=$(awk -v w="$WORK" 'BEGIN{n=split("4 3 2.5 2 1.25 1 0.6 0.5 0.3 0.25 0.15 0.1",f," ");
    for(i=1;i<=n;i++) printf "%s%g", (i>1?", ":""), w*f[i]}')
sweep unequal "grid:
  crashtest.work: [$UW]" "" true
echo "### 12 unequal runs (crashtest.work: $UW) on 2 workers"
launch 3 unequal
mk=$(field "$W/unequal.3.log" '.*scheduler: [0-9]+ runs in ([0-9.]+) s.*')
if [ -n "$PY" ] && [ -n "$mk" ] && [ -f "$W/unequal.nc" ]; then
    "$PY" - "$W/unequal.nc" "$mk" <<'EOF'
import sys, xarray as xr
t = sorted((float(v) for v in xr.open_dataset(sys.argv[1])["wall_seconds"].values), reverse=True)
mk = float(sys.argv[2])
lb = max(sum(t) / 2, t[0])
load = [0.0, 0.0]
for x in t:                      # ideal longest-first list schedule of the measured times
    load[load.index(min(load))] += x
lpt = max(load)
print(f"  makespan {mk:.3f} s; lower bound max(sum/2, max) {lb:.3f} s; ideal LPT of the same "
      f"times {lpt:.3f} s")
print(f"  makespan / lower bound = {mk / lb:.3f}; makespan / ideal LPT = {mk / lpt:.3f}")
print(f"sched_makespan_over_lb={mk / lb:.3f}")
print(f"sched_makespan_over_lpt={mk / lpt:.3f}")
EOF
else
    echo "  makespan ${mk:-?} s (no python3 with xarray for the bounds)"
fi
