#!/usr/bin/env bash
# tests/run.sh BUILD_DIR [--c-only] — runs the whole test suite from the repo root:
#   C unit tests (BUILD_DIR/tests/test_*), end-to-end shell tests (tests/t_*.sh), pytest.
# Every test prints "ok - NAME", "ok - NAME # SKIP why" or "not ok - NAME"; a program that
# crashes without printing a failure counts as one failure. Closes with
# "N passed, N failed, N skipped".
set -u
# shellcheck disable=SC2164  # cd to the checkout this script lives in: it exists
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODE=${2:-all}
export CLSWEEP_BUILD=$BUILD
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
pass=0 fail=0 skip=0
failed_names=()
logdir=$(mktemp -d /tmp/clsweep-tests.XXXXXX)

count() {  # count NAME LOGFILE EXITCODE
    local name=$1 log=$2 rc=$3
    local p f s
    p=$(grep -E '^ok - ' "$log" | grep -vc '# SKIP')
    s=$(grep -Ec '^ok - .*# SKIP' "$log")
    f=$(grep -Ec '^not ok - ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name (exit code $rc)"
        tail -n 20 "$log" | sed 's/^/#   /'
    fi
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name")
        grep -E '^(not ok|#)' "$log" | head -n 40
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    printf '%-40s %3d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    log=$logdir/$name.log
    "$t" >"$log" 2>&1
    count "$name" "$log" $?
done

if [ "$MODE" != "--c-only" ]; then
    for t in tests/t_*.sh; do
        [ -f "$t" ] || continue
        name=$(basename "$t")
        log=$logdir/$name.log
        bash "$t" "$BUILD" >"$log" 2>&1
        count "$name" "$log" $?
    done
    PY=$(tools/find_python.sh 2>/dev/null)
    if [ -n "$PY" ]; then
        log=$logdir/pytest.log
        "$PY" -m pytest -q -rA -p no:cacheprovider tests/ >"$log" 2>&1
        rc=$?
        # pytest -rA prints one "PASSED/FAILED/SKIPPED nodeid" line per test.
        p=$(grep -Ec '^PASSED ' "$log"); f=$(grep -Ec '^(FAILED|ERROR) ' "$log"); s=$(grep -Ec '^SKIPPED ' "$log")
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ "$f" -gt 0 ]; then failed_names+=(pytest); tail -n 60 "$log"; fi
        pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
        printf '%-40s %3d passed, %d failed, %d skipped\n' pytest "$p" "$f" "$s"
    else
        echo "not ok - pytest (no python3 that can import xarray: run make deps)"
        fail=$((fail + 1))
    fi
fi

[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}  (logs in $logdir)"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
