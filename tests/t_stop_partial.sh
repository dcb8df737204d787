#!/usr/bin/env bash
# Issue 17 item 1 (and the "stopped by signal 0" of item 11): a stop that reaches only part
# of a job never loses runs. One invariant for the exit code: 0 only when every run has a
# final status in the file, otherwise 3 (resumable).
#   a. SIGTERM to one worker rank: it finishes its run, gets no more work, the other
#      worker takes over; exit 0, file equal to the reference.
#   b. SIGTERM to one run process (grace 0: it abandons at its next stage): the run goes
#      back to the queue and is done again; exit 0, file equal to the reference.
#   c. the same with one process: the run is queued again; exit 0, equal; no "signal 0".
#   d. SIGTERM to both worker ranks (nobody left to take over): exit 3, valid partial file,
#      no "signal 0"; the resume completes to the reference.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

Y=$TMP/slow.yaml
sed 's/block_size: 150/block_size: 3000/' tests/e2e/tiny.yaml > "$Y"
"$CLSWEEP" run "$Y" --output "$TMP/ref.nc" --quiet || notok "reference sweep"

# a. one worker rank
out=$TMP/a.nc
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" 2>"$TMP/a.err" &
pid=$!
wait_records "$out.journal" 2
w=$(rank_pid "$out" 1)
[ -n "$w" ] && kill -TERM "$w"
wait "$pid"
rc=$?
check "TERM to one worker rank: the sweep completes, exit 0 (got $rc)" test $rc -eq 0 -a -n "$w"
check "TERM to one worker rank: every run in the file, equal to the reference" nc_equal "$TMP/ref.nc" "$out"
check "TERM to one worker rank: the master saw it stop" grep -q "done: 12 runs" "$TMP/a.err"

# b. one run process under MPI
out=$TMP/b.nc
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --grace 0 2>"$TMP/b.err" &
pid=$!
wait_records "$out.journal" 2
w=$(rank_pid "$out" 2)
c=""
for _ in $(seq 1 100); do c=$(pgrep -P "${w:-0}" -f "clsweep run" | head -1); [ -n "$c" ] && break; sleep 0.05; done
[ -n "$c" ] && kill -TERM "$c"
wait "$pid"
rc=$?
check "TERM to one run process (MPI): exit 0 (got $rc)" test $rc -eq 0 -a -n "$c"
check "TERM to one run process (MPI): equal to the reference" nc_equal "$TMP/ref.nc" "$out"

# c. one run process, one process (16 stages per run: the signal lands before the last)
Y16=$TMP/slow16.yaml
sed 's/blocks: 4, block_size: 150/blocks: 16, block_size: 800/' tests/e2e/tiny.yaml > "$Y16"
"$CLSWEEP" run "$Y16" --output "$TMP/ref16.nc" --quiet || notok "reference sweep (16 stages)"
out=$TMP/c.nc
"$CLSWEEP" run "$Y16" --output "$out" --grace 0 2>"$TMP/c.err" &
pid=$!
wait_records "$out.journal" 2
c=""
for _ in $(seq 1 400); do c=$(pgrep -P "$pid" -f "clsweep run" | head -1); [ -n "$c" ] && break; sleep 0.01; done
[ -n "$c" ] && kill -TERM "$c"
wait "$pid"
rc=$?
check "TERM to the run process (one process): exit 0 (got $rc)" test $rc -eq 0 -a -n "$c"
check "TERM to the run process (one process): equal to the reference" nc_equal "$TMP/ref16.nc" "$out"
check "TERM to the run process (one process): says the run was queued again" grep -q "queued again" "$TMP/c.err"
check "TERM to the run process (one process): no 'signal 0'" bash -c "! grep -q 'signal 0' '$TMP/c.err'"

# d. every worker rank
out=$TMP/d.nc
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" 2>"$TMP/d.err" &
pid=$!
wait_records "$out.journal" 2
w1=$(rank_pid "$out" 1) w2=$(rank_pid "$out" 2)
[ -n "$w1" ] && [ -n "$w2" ] && kill -TERM "$w1" "$w2"
wait "$pid"
rc=$?
n=$(nruns "$out")
check "TERM to every worker: exit 3, resumable (got $rc)" test $rc -eq 3
check "TERM to every worker: partial file with some runs ($n of 12)" test "${n:-0}" -ge 2 -a "${n:-0}" -lt 12
check "TERM to every worker: says what happened, no 'signal 0'" \
    bash -c "grep -q 'worker(s) stopped on a signal of their own' '$TMP/d.err' && ! grep -q 'signal 0' '$TMP/d.err'"
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$TMP/d.err"
check "TERM to every worker: the resume completes" test $? -eq 0
check "TERM to every worker: the resumed file equals the reference" nc_equal "$TMP/ref.nc" "$out"
finish
