#!/usr/bin/env bash
# Issue 17 item 7: TERM, INT, USR1 and HUP, to one process and under mpirun (to mpirun, and
# INT to mpirun's whole process group as a terminal's Ctrl-C does): the job stops, the final
# .nc holds every run of the journal (not one behind), no process of the job is left, and the
# exit code says "incomplete, resumable": 3 from clsweep itself (one process; any rank);
# under mpirun, mpirun's own code — 3 for the forwarded USR1, and for TERM/INT/HUP the
# non-zero code Open MPI's mpirun always sets when it is signalled itself (1; see
# docs/reliability.md). The resume completes to the reference.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

Y=$TMP/slow.yaml
sed 's/block_size: 150/block_size: 3000/' tests/e2e/tiny.yaml > "$Y"
"$CLSWEEP" run "$Y" --output "$TMP/ref.nc" --quiet || notok "reference sweep"

one() {  # one SIG MODE (solo | mpirun | group)
    local sig=$1 mode=$2 out=$TMP/$1-$2.nc pid rc n r left
    if [ "$mode" = solo ]; then setsid "$CLSWEEP" run "$Y" --output "$out" 2>"$out.err" &
    else setsid $MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" 2>"$out.err" & fi
    pid=$!
    wait_records "$out.journal" 2
    if [ "$mode" = group ]; then kill -"$sig" -- -"$pid"; else kill -"$sig" "$pid"; fi
    wait "$pid"
    rc=$?
    for _ in $(seq 1 50); do left=$(survivors "$out"); [ "$left" -eq 0 ] && break; sleep 0.1; done
    n=$(nruns "$out") r=$(nrecords "$out.journal")
    if [ "$mode" = solo ] || [ "$sig" = USR1 ]; then
        check "$sig ($mode): exit 3 (got $rc)" test $rc -eq 3
    else
        check "$sig ($mode): non-zero exit (got $rc: mpirun's)" test $rc -ne 0
    fi
    if [ "$mode" = solo ] || [ "$sig" = USR1 ]; then
        check "$sig ($mode): the final .nc holds every journal record ($n of $r, 12 runs)" \
            test -n "$n" -a "$n" = "$r" -a "${n:-0}" -lt 12
        check "$sig ($mode): the master said the sweep is resumable" grep -q "run the same command again" "$out.err"
    else
        # Open MPI's mpirun does not forward TERM/INT/HUP to the ranks: depending on timing
        # the job is cut short (resumable) or runs to its end. Either way the .nc holds
        # every journal record.
        check "$sig ($mode): the final .nc holds every journal record ($n of $r, 12 runs)" \
            test -n "$n" -a "$n" = "$r"
        check "$sig ($mode): cut short and resumable, or complete" \
            bash -c "[ '${n:-0}' -eq 12 ] || grep -q 'run the same command again' '$out.err'"
    fi
    check "$sig ($mode): no process of the job is left" test "$left" -eq 0
    [ "$left" -eq 0 ] || kill_survivors "$out"
}
resume() {  # resume SIG MODE
    local out=$TMP/$1-$2.nc
    $MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$out.err"
    check "$1 ($2): the resume completes" test $? -eq 0
    check "$1 ($2): the resumed file equals the reference" nc_equal "$TMP/ref.nc" "$out"
}
for sig in TERM INT USR1 HUP; do one $sig solo; done
resume HUP solo
for sig in TERM INT HUP USR1; do one $sig mpirun; done
one INT group
resume TERM mpirun
resume INT group
finish
