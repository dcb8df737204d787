#!/usr/bin/env bash
# Kill-and-resume at random moments: the whole job (mpirun -np 2 and its ranks, in their
# own session/process group) gets SIGKILL at 10 random moments in succession, resuming each
# time. A background watcher reads the sweep file every ~50 ms during the whole test: it
# must be readable whenever it exists, and its run count must never go down. The final file
# equals an uninterrupted sweep's, run by run. tests/e2e/medium.yaml has runs of ~0.3 s, so
# kills land during start-up, runs, journal appends and .nc rewrites.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT
# Live (not zombie: a container's PID 1 may never reap orphans) processes of a group.
group_alive() { ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {n++} END {exit !n}'; }
SWEEP=tests/e2e/medium.yaml
KILLS=${KILLS:-10}

"$CLSWEEP" run "$SWEEP" --output "$TMP/ref.nc" --quiet 2>"$TMP/ref.err" || notok "reference sweep"
out=$TMP/k.nc

# The watcher: logs every unreadable read and every decrease of the run count.
watch_file() {
    local last=0 n
    while [ -f "$TMP/watching" ]; do
        if [ -f "$out" ]; then
            if ncdump "$out" >"$TMP/dump" 2>"$TMP/dump.err"; then
                n=$(grep -Eo 'run = ([0-9]+|UNLIMITED ; // \([0-9]+)' "$TMP/dump" | grep -Eo '[0-9]+' | head -1)
                n=${n:-0}
                [ "$n" -lt "$last" ] && echo "run count went down: $last -> $n" >>"$TMP/watch.log"
                last=$n
                echo "$n" >>"$TMP/watch.reads"
            elif [ -f "$out" ]; then   # still there (not between a kill and a cleanup): unreadable
                { echo "unreadable:"; cat "$TMP/dump.err"; } >>"$TMP/watch.log"
            fi
        fi
        sleep 0.05
    done
}
: >"$TMP/watch.log"
: >"$TMP/watch.reads"
touch "$TMP/watching"
watch_file &
watcher=$!

leftover=0
progress=""
# shellcheck disable=SC2034  # round only counts the kills
for round in $(seq 1 "$KILLS"); do
    setsid $MPIRUN -np 2 "$CLSWEEP" run "$SWEEP" --output "$out" --quiet 2>>"$TMP/k.err" &
    pid=$!
    # A random moment 0.3–2.8 s after the launch: start-up (mpirun ~0.5 s), a run, a write.
    sleep "$((RANDOM % 3)).$((RANDOM % 10))$((RANDOM % 10))"
    sleep 0.3
    kill -9 -- -"$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    sleep 0.1
    # SIGKILL to the process group must leave nothing behind (ranks, forked run processes):
    # Open MPI puts the ranks in process groups of their own, so they must notice that
    # their launcher is gone and exit within a few seconds (issue 17).
    if group_alive "$pid"; then leftover=1; pkill -9 -g "$pid"; fi
    for _ in $(seq 1 50); do [ "$(survivors "$out")" -eq 0 ] && break; sleep 0.1; done
    if [ "$(survivors "$out")" -ne 0 ]; then leftover=1; kill_survivors "$out"; fi
    progress="$progress $(grep -ao CLSJ "$out.journal" 2>/dev/null | wc -l)"
done
echo "# journal records after each kill:$progress"
check "no process of a killed job (launcher, ranks, run processes) is alive 5 s after the SIGKILL" \
    test $leftover -eq 0
$MPIRUN -np 2 "$CLSWEEP" run "$SWEEP" --output "$out" --quiet 2>>"$TMP/k.err"
check "the resumed sweep completes" test $? -eq 0
rm -f "$TMP/watching"
wait "$watcher"
echo "# the watcher read the file $(wc -l <"$TMP/watch.reads") times"
check "the watcher read the file during the kills" test "$(wc -l <"$TMP/watch.reads")" -ge 10
check "the sweep file was never unreadable and its run count never went down" \
    test ! -s "$TMP/watch.log"
[ -s "$TMP/watch.log" ] && head -n 20 "$TMP/watch.log" | sed 's/^/#   /'
check "killed-and-resumed file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
finish
