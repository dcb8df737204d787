#!/usr/bin/env bash
# SIGKILL the whole job (process group) mid-way, three times, resuming each time: the file
# is readable after every kill, no process of the job (mpirun, ranks in their own process
# groups, run processes) is alive a few seconds after it, and the final file equals an
# uninterrupted sweep's.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/ref.nc" --quiet || notok "reference sweep"
out=$TMP/k.nc
readable=1 leftover=0
for round in 1 2 3; do
    setsid $MPIRUN -np 2 "$CLSWEEP" run tests/e2e/tiny.yaml --output "$out" --quiet 2>>"$TMP/k.err" &
    pid=$!
    # Wait for at least $round more finished runs in the journal, then kill -9 the job.
    target=$((round * 2))
    for _ in $(seq 1 600); do
        recs=$(grep -ao CLSJ "$out.journal" 2>/dev/null | wc -l)
        [ "$recs" -ge "$target" ] && break
        sleep 0.05
    done
    sleep "0.$((RANDOM % 5))"
    kill_job "$pid" "$out"
done
check "the sweep file is readable after every kill" test $readable -eq 1
check "no process of a killed job is alive 5 s after the SIGKILL" test $leftover -eq 0
$MPIRUN -np 2 "$CLSWEEP" run tests/e2e/tiny.yaml --output "$out" --quiet 2>>"$TMP/k.err"
check "the resumed sweep completes" test $? -eq 0
check "killed-and-resumed file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
finish
