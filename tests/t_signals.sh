#!/usr/bin/env bash
# SIGTERM (single process) and SIGUSR1 (forwarded by mpirun, as SLURM's --signal warning):
# exit code 3, a valid partial file, and a resume that completes to the reference values.
source "$(dirname "$0")/e2e/lib.sh"

# tiny.yaml with 20x longer runs (~0.2 s each): the tiny sweep's 10 ms runs can all finish
# between seeing the first records and the signal's arrival.
Y=$TMP/slow.yaml
sed 's/block_size: 150/block_size: 3000/' tests/e2e/tiny.yaml > "$Y"
grep -q 'block_size: 3000' "$Y" || notok "slow copy of tiny.yaml"
"$CLSWEEP" run "$Y" --output "$TMP/ref.nc" --quiet || notok "reference sweep"

wait_records() {  # wait_records JOURNAL N
    for _ in $(seq 1 600); do
        [ "$(grep -ao CLSJ "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# 1. SIGTERM to a single-process sweep.
out=$TMP/term.nc
"$CLSWEEP" run "$Y" --output "$out" 2>"$TMP/term.err" &
pid=$!
wait_records "$out.journal" 3
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM: exit code 3 (incomplete, resumable)" test $rc -eq 3
check "SIGTERM: message says the sweep is resumable" grep -q "resume" "$TMP/term.err"
check "SIGTERM: partial file is valid" nc_readable "$out"
n=$("$PY" -c "import xarray as x,sys; print(x.open_dataset(sys.argv[1]).sizes['run'])" "$out")
check "SIGTERM: partial file holds some but not all runs ($n)" test "$n" -ge 1 -a "$n" -lt 12
"$CLSWEEP" run "$Y" --output "$out" --quiet
check "SIGTERM: resume completes" test $? -eq 0
check "SIGTERM: resumed file equals the reference" nc_equal "$TMP/ref.nc" "$out"

# 2. SIGUSR1 to mpirun, which forwards it to every rank.
out=$TMP/usr1.nc
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" 2>"$TMP/usr1.err" &
pid=$!
wait_records "$out.journal" 3
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "SIGUSR1 under mpirun: exit code 3 (got $rc)" test $rc -eq 3
[ $rc -eq 3 ] || sed "s/^/# /" "$TMP/usr1.err" | grep -v "^# *$" | tail -n 12
check "SIGUSR1 under mpirun: partial file is valid" nc_readable "$out"
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --quiet
check "SIGUSR1 under mpirun: resume completes" test $? -eq 0
check "SIGUSR1 under mpirun: resumed file equals the reference" nc_equal "$TMP/ref.nc" "$out"
finish
