#!/usr/bin/env bash
# perf/million.sh [BUILD_DIR] [--full] — the million-run benchmark (issue 23), run by
# `make bench` through perf/run.sh (`make bench BENCH_ARGS=--million-full` for the full size).
# Wall clock (the scheduler's own report), like perf/sched.sh.
#
# A sweep of N no-op runs (crashtest, isolate: false, analysis off) on two grid axes:
#   1. `clsweep expand`: wall and user seconds, peak RSS (GNU time);
#   2. `mpirun -np 3` (1 master + 2 workers) from scratch: runs/s over the whole sweep
#      (expansion, journal and every .nc write included) and without the .nc writes, the
#      writes' count and seconds, the master's peak RSS (its own getrusage report) and its
#      largest child's (the .nc writer of large files), CPU per run of the master while
#      dispatching and of the whole job (GNU time over mpirun), the load average, the .nc
#      and journal sizes (the journal after its last compaction, and its peak during the
#      sweep, sampled every 0.2 s), the wall time of the whole mpirun.
# N: 20,000 by default (quick), 1,000,000 with --full; CLSWEEP_BENCH_MILLION_N overrides both.
# Prints "million_* key=value" summary lines for perf/table.py. Needs /usr/bin/time.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=build
N=20000
for a in "$@"; do
    case $a in
        --full) N=1000000 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) echo "perf/million.sh: unknown option '$a'" >&2; exit 2 ;;
        *) BUILD=$a ;;
    esac
done
N=${CLSWEEP_BENCH_MILLION_N:-$N}
CLS=$PWD/$BUILD/clsweep
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 CLSWEEP_BLAS_THREADS=1 CLSWEEP_SCHED_REPORT=1
[ -x "$CLS" ] || { echo "perf/million.sh: $CLS not built (make BUILD=$BUILD all)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "perf/million.sh: no mpirun" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "perf/million.sh: no /usr/bin/time (Debian package time)" >&2; exit 2; }
W=$(mktemp -d /tmp/clsweep-bench-million.XXXXXX)
trap 'rm -rf "$W"' EXIT

# Two axes: A values of crashtest.at_stage × B of crashtest.ws_dim, A·B = N (B ≤ 1000).
B=1
for d in 1000 500 250 200 100 50 40 25 20 10 8 5 4 2; do
    if [ $((N % d)) -eq 0 ] && [ $((N / d)) -ge "$d" ]; then B=$d; break; fi
done
A=$((N / B))
cat > "$W/million.yaml" <<YAML
name: million
benchmark: {name: teacher_student, blocks: 1, block_size: 1, batch: 1, test_size: 1}
models: [crashtest]
seeds: 1
defaults: {analysis.when: none}
grid:
  crashtest.at_stage: {range: [0, $A, 1]}
  crashtest.ws_dim: {range: [1, $((B + 1)), 1]}
options: {isolate: false, quiet: true}
output: $W/million.nc
YAML

echo "million-run benchmark: $N no-op runs ($A x $B grid), $(getconf _NPROCESSORS_ONLN) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "%e %U %M" -o "$W/expand.time" "$CLS" expand "$W/million.yaml" >/dev/null 2>"$W/expand.err"
rc=$?
read -r ew eu ek < <(tail -n 1 "$W/expand.time")
echo "  expand: exit $rc, ${ew:-?} s wall, ${eu:-?} s user, peak RSS $(( ${ek:-0} / 1024 )) MiB"
load0=$(cut -d' ' -f1 /proc/loadavg)
# The journal's largest size during the sweep, sampled every 0.2 s.
( peak=0; while [ ! -e "$W/done" ]; do
      sz=$(stat -c %s "$W/million.nc.journal" 2>/dev/null || echo 0)
      [ "$sz" -gt "$peak" ] && peak=$sz && echo "$peak" >"$W/jpeak"
      sleep 0.2
  done ) &
sampler=$!
/usr/bin/time -f "%e %U %S" -o "$W/run.time" timeout 3000 mpirun -np 3 "$CLS" run "$W/million.yaml" >"$W/run.log" 2>&1
rc=$?
touch "$W/done"
wait "$sampler" 2>/dev/null
jpeak=$(cat "$W/jpeak" 2>/dev/null || echo 0)
load1=$(cut -d' ' -f1 /proc/loadavg)
read -r twall tu ts < <(tail -n 1 "$W/run.time")
field() { sed -nE "s/$1/\\1/p" "$W/run.log" | head -n1; }
rate=$(field '.*scheduler: [0-9]+ runs in [0-9.]+ s \(([0-9.]+) runs\/s\).*')
secs=$(field '.*scheduler: [0-9]+ runs in ([0-9.]+) s.*')
mrss=$(field '.*master peak RSS ([0-9]+) MiB.*')
mcpu=$(field '.*master CPU while dispatching ([0-9.]+) s.*')
crss=$(field '.*largest child process peak RSS ([0-9]+) MiB.*')
writes=$(field '.*scheduler: ([0-9]+ .nc write.*)')
ncb=$(stat -c %s "$W/million.nc" 2>/dev/null || echo 0)
jb=$(stat -c %s "$W/million.nc.journal" 2>/dev/null || echo 0)
echo "  run (mpirun -np 3): exit $rc, ${secs:-?} s, ${rate:-?} runs/s (mpirun wall ${twall:-?} s, rank" \
     "start and setup included), master peak RSS ${mrss:-?} MiB (largest child: ${crss:-0} MiB)," \
     ".nc $((ncb / 1048576)) MiB, journal $((jb / 1048576)) MiB at the end, $((jpeak / 1048576)) MiB at most"
# CPU per run: the master's while dispatching (its own report), and all processes of the
# job together (mpirun, the ranks, the .nc writer) from GNU time.
allcpu=$(awk "BEGIN{printf \"%.1f\", ${tu:-0} + ${ts:-0}}")
echo "  CPU per run: master ${mcpu:-?} s while dispatching = $(awk "BEGIN{printf \"%.1f\", 1e6 * ${mcpu:-0} / $N}") us;" \
     "whole job ${allcpu} s = $(awk "BEGIN{printf \"%.1f\", 1e6 * $allcpu / $N}") us; load average $load0 -> $load1"
wtot=$(echo "${writes:-}" | sed -nE 's/.*write\(s\), ([0-9.]+) s in total.*/\1/p')
drate=$(awk "BEGIN{d = ${secs:-0} - ${wtot:-0}; if (d > 0) printf \"%.0f\", $N / d; else print 0}")
echo "  ${writes:-no .nc write report}; dispatch rate without the .nc writes: $drate runs/s"
[ $rc -eq 0 ] || tail -n 5 "$W/run.log" | sed 's/^/  /'
echo "million_runs=$N"
echo "million_expand_s=${ew:-0}"
echo "million_expand_user_s=${eu:-0}"
echo "million_expand_rss_mib=$(( ${ek:-0} / 1024 ))"
echo "million_rate=${rate:-0}"
echo "million_rate_without_writes=${drate:-0}"
echo "million_nc_write_s=${wtot:-0}"
echo "million_master_rss_mib=${mrss:-0}"
echo "million_writer_rss_mib=${crss:-0}"
echo "million_master_cpu_us_per_run=$(awk "BEGIN{printf \"%.1f\", 1e6 * ${mcpu:-0} / $N}")"
echo "million_job_cpu_us_per_run=$(awk "BEGIN{printf \"%.1f\", 1e6 * $allcpu / $N}")"
echo "million_nc_mib=$(awk "BEGIN{printf \"%.1f\", $ncb / 1048576}")"
echo "million_journal_mib=$(awk "BEGIN{printf \"%.1f\", $jb / 1048576}")"
echo "million_journal_peak_mib=$(awk "BEGIN{printf \"%.1f\", $jpeak / 1048576}")"
echo "million_mpirun_wall_s=${twall:-0}"
