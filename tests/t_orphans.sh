#!/usr/bin/env bash
# Issue 17 item 10: no rank outlives its launcher. Open MPI puts the ranks in process groups
# of their own, so `kill -9` of mpirun's group does not reach them: each rank must notice
# that its launcher is gone (it was re-parented) and exit within a few seconds — the master
# in its dispatch loop, a worker idle or computing (its run process dies with it). The
# output lock is free again, and the resume completes to the reference.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

Y=$TMP/slow.yaml
sed 's/block_size: 150/block_size: 3000/' tests/e2e/tiny.yaml > "$Y"
"$CLSWEEP" run "$Y" --output "$TMP/ref.nc" --quiet || notok "reference sweep"

for np in 3 2; do
    out=$TMP/o$np.nc
    setsid $MPIRUN -np $np "$CLSWEEP" run "$Y" --output "$out" --quiet 2>"$TMP/o$np.err" &
    pid=$!
    wait_records "$out.journal" 2
    before=$(survivors "$out")
    kill -9 -- -"$pid"
    wait "$pid" 2>/dev/null
    left=1
    for _ in $(seq 1 50); do left=$(survivors "$out"); [ "$left" -eq 0 ] && break; sleep 0.1; done
    check "np $np: every process of the job ($before) is gone 5 s after kill -9 of the launcher ($left left)" \
        test "$left" -eq 0 -a "$before" -gt $np
    [ "$left" -eq 0 ] || { ps -o pid,ppid,pgid,stat,args -p "$(pgrep -d, -f -- "$out")" | sed 's/^/# /'; kill_survivors "$out"; }
    check "np $np: the file is readable" nc_readable "$out"
    $MPIRUN -np $np "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$TMP/o$np.err"
    check "np $np: the resume completes (the lock is free)" test $? -eq 0
    check "np $np: the resumed file equals the reference" nc_equal "$TMP/ref.nc" "$out"
done
finish
