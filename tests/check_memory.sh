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
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --child-silent-after-fork=yes --num-callers=40 "${SUPP[@]}")
logdir=$(mktemp -d /tmp/clsweep-vg.XXXXXX)
pass=0 fail=0
t_start=$SECONDS

vg() {  # vg NAME EXPECTED_RC COMMAND...: the command under valgrind; memcheck errors → 99
    local name=$1 want=$2; shift 2
    local log=$logdir/$name.log t0=$SECONDS
    "${VG[@]}" --log-file="$logdir/$name.vg" "$@" >"$log" 2>&1
    local rc=$?
    if [ "$rc" -eq "$want" ] && [ ! -s "$logdir/$name.vg" ]; then
        echo "ok - valgrind $name ($((SECONDS - t0)) s)"
        pass=$((pass + 1))
    else
        echo "not ok - valgrind $name (exit $rc, expected $want; $((SECONDS - t0)) s)"
        sed 's/^/#   /' "$logdir/$name.vg" 2>/dev/null | head -n 60
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
    --set benchmark.blocks=2 --set benchmark.block_size=50 --set mlp.hidden=[16]
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
rm -rf "$tmp"

echo "# valgrind total: $((SECONDS - t_start)) s (logs in $logdir)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
