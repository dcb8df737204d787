#!/usr/bin/env bash
# Crash isolation: segfault, abort, hang (time limit), runaway memory (memory limit) and NaN
# in single runs are recorded with their reason; the other runs complete — with one process
# and under mpirun.
source "$(dirname "$0")/e2e/lib.sh"

verify() {
    "$PY" - "$1" <<'PYEOF'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1])
got = {}
for m, mode, st, msg in zip(ds.model.values, ds.crashtest__mode.values, ds.status.values, ds.message.values):
    got[str(mode) if str(m) == "crashtest" else str(m)] = (str(st), str(msg))
want = {"ok": ("ok", ""), "segv": ("failed", "signal 11"), "abort": ("failed", "signal 6"),
        "hang": ("failed", "time limit"), "oom": ("failed", "memory limit"),
        "nan": ("diverged", "non-finite"), "finetune": ("ok", "")}
bad = [k for k, (st, frag) in want.items() if k not in got or got[k][0] != st or frag not in got[k][1]]
for k in bad:
    print("unexpected:", k, got.get(k), "want", want[k])
sys.exit(1 if bad else 0)
PYEOF
}
"$CLSWEEP" run tests/e2e/crash.yaml --output "$TMP/solo.nc" --quiet 2>"$TMP/solo.err"
check "single process: the sweep completes despite crashing runs" test $? -eq 0
check "single process: each failure recorded with its reason" verify "$TMP/solo.nc"
$MPIRUN -np 2 "$CLSWEEP" run tests/e2e/crash.yaml --output "$TMP/mpi.nc" --quiet 2>"$TMP/mpi.err"
check "mpirun: the sweep completes despite crashing runs" test $? -eq 0
check "mpirun: each failure recorded with its reason" verify "$TMP/mpi.nc"
finish
