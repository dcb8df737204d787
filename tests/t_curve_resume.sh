#!/usr/bin/env bash
# The anytime curve (eval.every) through the sweeper: a 2-rank MPI sweep killed with SIGKILL
# twice and resumed, three --shard parts merged, and a resume from the .nc file alone (no
# journal) all give the file of one uninterrupted single-process sweep, R_curve, curve_stage,
# curve_step and the curve metrics included bit for bit; runs with fewer points are NaN-padded.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT
Y=tests/e2e/curve.yaml

"$CLSWEEP" run $Y --output "$TMP/ref.nc" --quiet || notok "reference sweep"
"$PY" - "$TMP/ref.nc" <<'PYEOF'
import sys, numpy as np, netCDF4
d = netCDF4.Dataset(sys.argv[1])
assert d["R_curve"].dimensions == ("run", "point", "task"), d["R_curve"].dimensions
every = np.asarray(d["eval__every"][:])
steps = np.ma.filled(d["curve_step"][:], np.nan)
stage = np.ma.filled(d["curve_stage"][:], np.nan)
Rc = np.ma.filled(d["R_curve"][:], np.nan)
S = int(d["nstages"][0])
for i in range(len(every)):
    n = 1 + S * int(np.ceil(150 / every[i]))
    assert np.isfinite(steps[i, :n]).all() and np.isnan(steps[i, n:]).all(), (i, steps[i])
    assert np.isnan(Rc[i, n:]).all() and np.isfinite(Rc[i, :n, :S]).all()
    assert steps[i, 0] == 0 and stage[i, n - 1] == S - 1 and steps[i, n - 1] == 150
    for v in ("anytime_acc", "lca", "stability_gap", "gap_recovery"):
        assert np.isfinite(d[v][i]), (v, i)
print("curve shapes ok")
PYEOF
check "curve variables: (run, point, task), NaN padding past a run's points, metrics finite" test $? -eq 0

out=$TMP/k.nc
for round in 1 2; do
    setsid $MPIRUN -np 2 "$CLSWEEP" run $Y --output "$out" --quiet 2>>"$TMP/k.err" &
    pid=$!
    wait_records "$out.journal" $((round * 3))
    kill -9 -- -"$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    for _ in $(seq 1 50); do [ "$(survivors "$out")" -eq 0 ] && break; sleep 0.1; done
    kill_survivors "$out"
    echo "# after kill $round: $(nrecords "$out.journal") journal records of 12 runs"
done
$MPIRUN -np 2 "$CLSWEEP" run $Y --output "$out" --quiet 2>>"$TMP/k.err"
check "the killed MPI sweep resumes to completion" test $? -eq 0
check "MPI + SIGKILL + resume: the curve file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"

for i in 0 1 2; do
    "$CLSWEEP" run $Y --shard "$i/3" --output "$TMP/part$i.nc" --quiet || notok "shard $i/3"
done
"$CLSWEEP" merge "$TMP/merged.nc" "$TMP"/part{1,2,0}.nc 2>"$TMP/merge.err"
check "merge of three shards exits 0" test $? -eq 0
check "merged curve file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$TMP/merged.nc"

# A shard's file alone (its journal removed) resumed to the whole sweep: read-back of the
# padded curves, then the rest computed.
cp "$TMP/part1.nc" "$TMP/fromnc.nc"
"$CLSWEEP" run $Y --output "$TMP/fromnc.nc" --quiet 2>"$TMP/fromnc.err"
check "resume from a .nc alone completes" test $? -eq 0
check "resumed-from-.nc curve file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$TMP/fromnc.nc"
finish
