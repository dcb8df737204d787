# shellcheck shell=bash
# Shared helpers for the end-to-end shell tests (sourced). Each test prints TAP-like
# "ok - name" / "not ok - name" lines; tests/run.sh counts them.
set -u
# shellcheck disable=SC2164  # cd to the checkout this file lives in: it exists
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${1:-${CLSWEEP_BUILD:-build}}
# shellcheck disable=SC2034  # CLSWEEP and MPIRUN are for the tests that source this file
CLSWEEP=$PWD/$BUILD/clsweep
PY=$(tools/find_python.sh) || { echo "not ok - no python3 with xarray"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
TMP=$(mktemp -d /tmp/clsweep-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# shellcheck disable=SC2034  # for the tests that source this file
MPIRUN="mpirun --oversubscribe --bind-to none"
FAILED=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; FAILED=1; }
check() {  # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}
# Equal sweep files, run by run (everything but wall_seconds).
nc_equal() { "$PY" tests/e2e/nc_compare.py "$1" "$2"; }
finish() { exit $FAILED; }
# A readable NetCDF file (ncdump -h quietly; check's own "ok" line stays on stdout).
nc_readable() { ncdump -h "$1" >/dev/null 2>&1; }
