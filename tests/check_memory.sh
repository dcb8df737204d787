#!/usr/bin/env bash
# tests/check_memory.sh BUILD_DIR [--quick] — `make check-memory`: valgrind memcheck over
# every C test executable (BUILD_DIR/tests/test_*) and representative clsweep commands
# (expand, a single run, a sweep whose runs crash, time out and run out of memory in forked
# run processes, status). A test fails on any memcheck error or definite leak
# (--errors-for-leak-kinds=definite); "still reachable" and "possibly lost" are not errors
# (Open MPI, OpenBLAS and HDF5 keep one-time allocations until exit). tests/valgrind.supp
# holds the suppressions for those libraries; our own code has none.
# --quick leaves out the model tests whose training loops take minutes under valgrind
# (test_ewgn test_gated test_hsf test_pah test_models), keeping every test of the
# infrastructure (parsing, data, output, journal, numerics, regressions) and the clsweep runs.
# Prints "ok - NAME" / "not ok - NAME" lines and closes with "N passed, N failed".
set -u
# shellcheck disable=SC2164  # cd to the checkout this script lives in: it exists
cd "$(dirname "$0")/.."
BUILD=${1:-build}
QUICK=0
[ "${2:-}" = "--quick" ] && QUICK=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
# Open MPI unloads its plugins at MPI_Finalize; keeping them loaded gives leak reports
# with symbols (and lets the suppressions match).
export OMPI_MCA_mca_base_component_disable_dlclose=1
command -v valgrind >/dev/null || { echo "not ok - valgrind not installed (apt-get install valgrind)"; echo "0 passed, 1 failed"; exit 1; }
SUPP=(--suppressions=tests/valgrind.supp)
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] && SUPP+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --child-silent-after-fork=yes --num-callers=40 "${SUPP[@]}")
logdir=$(mktemp -d /tmp/clsweep-vg.XXXXXX)
pass=0 fail=0 cpu_total=0
t_start=$SECONDS

vg() {  # vg NAME EXPECTED_RC COMMAND...: the command under valgrind; memcheck errors → 99
    local name=$1 want=$2; shift 2
    local log=$logdir/$name.log t0=$SECONDS cpu
    # CPU seconds (user+sys, run processes included) say more than wall time on a shared
    # machine: valgrind runs one thread, so on an idle machine wall ≈ CPU.
    TIMEFORMAT=%U+%S
    cpu=$( { time "${VG[@]}" --log-file="$logdir/$name.vg" "$@" >"$log" 2>&1; echo "rc=$?" >"$logdir/$name.rc"; } 2>&1 )
    local rc
    rc=$(sed -n 's/^rc=//p' "$logdir/$name.rc")
    cpu=$(echo "$cpu" | tail -1 | awk -F+ '{printf "%.0f", $1 + $2}')
    cpu_total=$((cpu_total + cpu))
    # Clean: the expected exit code, and every process that reported (the rank and, unless
    # silenced, its forked run processes) ends with "ERROR SUMMARY: 0 errors".
    local nsum nbad
    nsum=$(grep -c 'ERROR SUMMARY:' "$logdir/$name.vg")
    nbad=$(grep 'ERROR SUMMARY:' "$logdir/$name.vg" | grep -vc 'ERROR SUMMARY: 0 errors')
    if [ "$rc" -eq "$want" ] && [ "$nsum" -ge 1 ] && [ "$nbad" -eq 0 ]; then
        echo "ok - valgrind $name ($((SECONDS - t0)) s wall, $cpu s CPU)"
        pass=$((pass + 1))
    else
        echo "not ok - valgrind $name (exit $rc, expected $want; $((SECONDS - t0)) s wall, $cpu s CPU)"
        grep -vE '^==[0-9]+== *(Memcheck|Copyright|Using Valgrind|Command|Parent PID|HEAP SUMMARY|LEAK SUMMARY|   (in use|total heap|definitely|indirectly|possibly|still|suppressed|of which))' \
            "$logdir/$name.vg" 2>/dev/null | sed 's/^/#   /' | head -n 60
        grep -E '^not ok' "$log" | head -n 10 | sed 's/^/#   /'
        fail=$((fail + 1))
    fi
}

slow="test_ewgn test_gated test_hsf test_pah test_models"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ $QUICK -eq 1 ] && [[ " $slow " == *" $name "* ]]; then continue; fi
    vg "$name" 0 "$t"
done

C=$BUILD/clsweep
tmp=$(mktemp -d /tmp/clsweep-vgrun.XXXXXX)
vg "clsweep-expand" 0 "$C" expand tests/e2e/tiny.yaml
vg "clsweep-single" 0 "$C" single --model ewc --benchmark teacher_student \
    --set benchmark.blocks=2 --set benchmark.block_size=50 --set mlp.hidden=[16] \
    --set ewc.lambda=1 --set train.lr=0.01
# Crash isolation under valgrind: forked run processes that segfault, abort, hang past the
# time limit, exhaust the memory limit and diverge; the rank must stay clean.
cat >"$tmp/crash.yaml" <<'YAML'
name: vgcrash
benchmark: {name: teacher_student, blocks: 2, block_size: 20, batch: 10, test_size: 50}
models: [crashtest, finetune]
seeds: 1
defaults: {mlp.hidden: [8], crashtest.at_stage: 1}
grid:
  crashtest.mode: [ok, segv, abort, hang, nan]
options: {run_time_limit: 20}
YAML
vg "clsweep-run-crashing" 0 "$C" run "$tmp/crash.yaml" --output "$tmp/crash.nc" --quiet
vg "clsweep-run-resume" 0 "$C" run "$tmp/crash.yaml" --output "$tmp/crash.nc" --quiet
vg "clsweep-status" 0 "$C" status "$tmp/crash.nc"
# Ordinary runs in forked run processes, with the run processes checked too: valgrind's
# exit code 99 in a run process would make its run "failed", so every run must be ok.
cat >"$tmp/runs.yaml" <<'YAML'
name: vgruns
benchmark: {name: teacher_student, blocks: 2, block_size: 50, batch: 20, test_size: 50}
models: [finetune, ewc]
seeds: 1
defaults: {mlp.hidden: [16], ewc.fisher_samples: 10, ewc.lambda: 1, train.lr: 0.01}
YAML
VG_SAVE=("${VG[@]}")
VG=("${VG[@]/--child-silent-after-fork=yes/--child-silent-after-fork=no}")
vg "clsweep-run-forked-children" 0 "$C" run "$tmp/runs.yaml" --output "$tmp/runs.nc" --quiet
VG=("${VG_SAVE[@]}")
if "$C" status "$tmp/runs.nc" 2>/dev/null | awk '$1 == "finetune" || $1 == "ewc" {ok += $2; all += $6} END {exit !(all == 2 && ok == 2)}'; then
    echo "ok - valgrind clsweep-run-forked-children: every run ok (no memcheck error in a run process)"
    pass=$((pass + 1))
else
    echo "not ok - valgrind clsweep-run-forked-children: a run failed (memcheck error in a run process?)"
    "$C" status "$tmp/runs.nc" 2>&1 | sed 's/^/#   /'
    fail=$((fail + 1))
fi
rm -rf "$tmp"

echo "# valgrind total: $((SECONDS - t_start)) s wall, $cpu_total s CPU (logs in $logdir)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
