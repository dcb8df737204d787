#!/usr/bin/env bash
# End to end: the tiny sweep with one process (no launcher) and under mpirun -np 3; both
# files are read back through xarray and must be identical run by run; a re-run resumes.
source "$(dirname "$0")/e2e/lib.sh"

n=$("$CLSWEEP" expand tests/e2e/tiny.yaml 2>"$TMP/expand.err" | wc -l)
check "expand lists 12 runs" test "$n" -eq 12
check "expand reports dedup counts" grep -q "12 runs (16 before deduplication)" "$TMP/expand.err"

"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/solo.nc" 2>"$TMP/solo.err"
check "single-process sweep exits 0" test $? -eq 0
check "progress lines on stderr" grep -q "runs done" "$TMP/solo.err"
check "single-process file has the schema and values" "$PY" tests/e2e/check_tiny.py "$TMP/solo.nc"

/usr/bin/time -v $MPIRUN -np 3 "$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/mpi.nc" --quiet 2>"$TMP/mpi.err"
rc=$?
check "mpirun -np 3 sweep exits 0" test $rc -eq 0
check "mpirun file has the schema and values" "$PY" tests/e2e/check_tiny.py "$TMP/mpi.nc"
check "mpirun and single-process files are identical" nc_equal "$TMP/solo.nc" "$TMP/mpi.nc"
check "ncdump -h reads the file" ncdump -h "$TMP/mpi.nc" >/dev/null

cp "$TMP/mpi.nc" "$TMP/before.nc"
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/mpi.nc" 2>"$TMP/again.err"
check "re-running a finished sweep skips every run" grep -q "12 already done" "$TMP/again.err"
check "re-run leaves the same file" nc_equal "$TMP/before.nc" "$TMP/mpi.nc"
"$CLSWEEP" status "$TMP/mpi.nc" >"$TMP/status.out"
check "status summarises runs per model" grep -q "ewc" "$TMP/status.out"
finish
