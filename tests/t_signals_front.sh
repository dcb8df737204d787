#!/usr/bin/env bash
# Issue 17: the exit-code invariant for the command the user runs under mpirun. Bare Open MPI
# 4.1 `mpirun` exits 1 on TERM/INT/HUP (it cannot forward them; t_signals_launcher.sh); the
# documented front jobs/clsweep-launch turns each into SIGUSR1, which mpirun forwards. For
# TERM, INT, HUP and USR1 sent to the front, and INT sent to its whole process group (a
# terminal's Ctrl-C): exit 3, the final .nc holds every journal record (fewer than the 24
# runs), the master said "run the same command again", no process of the job is left, and
# the resume (through the front) completes to the reference. Also: the front without a
# signal exits 0 with every run; SIGKILL of the front still stops the job cleanly (its
# launcher gets SIGUSR1 as parent-death signal) with the final .nc and nothing left.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT
FRONT=jobs/clsweep-launch

Y=$TMP/slow.yaml
# 24 runs: a signal relayed front → mpirun → ranks on a loaded machine must still find runs
# left to stop (with 12 the sweep sometimes finished first)
sed 's/block_size: 150/block_size: 3000/; s/^seeds: 2$/seeds: 4/' tests/e2e/tiny.yaml > "$Y"
"$CLSWEEP" run "$Y" --output "$TMP/ref.nc" --quiet || notok "reference sweep"

one() {  # one SIG MODE (front | group | kill)
    local sig=$1 mode=$2 out=$TMP/$1-$2.nc pid rc n r left
    # env --default-signal=INT,HUP: a background job starts with SIGINT ignored, and a suite
    # started under nohup with SIGHUP ignored; a shell cannot trap a signal ignored at its
    # start (a front started from a terminal has both at their defaults)
    setsid env --default-signal=INT,HUP "$FRONT" $MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" 2>"$out.err" &
    pid=$!
    wait_records "$out.journal" 2
    if [ "$mode" = group ]; then kill -"$sig" -- -"$pid"; else kill -"$sig" "$pid"; fi
    { wait "$pid"; } 2>/dev/null   # no "Killed" job report for the KILL case
    rc=$?
    for _ in $(seq 1 100); do left=$(survivors "$out"); [ "$left" -eq 0 ] && break; sleep 0.1; done
    n=$(nruns "$out") r=$(nrecords "$out.journal")
    if [ "$mode" = kill ]; then
        check "KILL of the front: the job saved and stopped (.nc holds every record: $n of $r)" \
            test -n "$n" -a "$n" = "$r" -a "${n:-0}" -lt 24
    else
        check "$sig ($mode): exit 3 (got $rc)" test "$rc" -eq 3
        check "$sig ($mode): the final .nc holds every journal record ($n of $r, 24 runs)" \
            test -n "$n" -a "$n" = "$r" -a "${n:-0}" -lt 24
        check "$sig ($mode): the master said the sweep is resumable" grep -q "run the same command again" "$out.err"
    fi
    check "$sig ($mode): no process of the job is left" test "$left" -eq 0
    [ "$left" -eq 0 ] || kill_survivors "$out"
}
resume() {  # resume SIG MODE
    local out=$TMP/$1-$2.nc
    "$FRONT" $MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$out.err"
    check "$1 ($2): the resume through the front exits 0" test $? -eq 0
    check "$1 ($2): the resumed file equals the reference" nc_equal "$TMP/ref.nc" "$out"
}
for sig in INT TERM HUP USR1; do one $sig front; done
one INT group
one KILL kill
resume TERM front
resume INT group
resume KILL kill

"$FRONT" 2>"$TMP/usage.err"
check "the front without a command: exit 2 with usage" test $? -eq 2
"$FRONT" /nonexistent/launcher 2>/dev/null
check "a launcher that cannot start: non-zero exit" test $? -ne 0
# argv is passed as given: a sweep path with a space and shell syntax is one argument
mkdir -p "$TMP/a b"
cp "$Y" "$TMP/a b/\$(touch INJECTED);x.yaml"
"$FRONT" $MPIRUN -np 2 "$CLSWEEP" run "$TMP/a b/\$(touch INJECTED);x.yaml" --output "$TMP/a b/o.nc" --quiet 2>/dev/null
check "a path with a space and \$(...): exit 0, one argument, nothing executed" \
    bash -c "[ -s '$TMP/a b/o.nc' ] && [ ! -e INJECTED ] && [ ! -e '$TMP/INJECTED' ]"
finish
