#!/usr/bin/env bash
# Chunked dispatch (src/sweep/sched_master.c): 3,000 short runs go out several per work
# message; every run is recorded exactly once with the same numbers as a one-process
# sweep; a SIGUSR1 mid-chunk and a SIGKILL of the whole job lose nothing that the resumed
# sweep cannot finish, and the resumed file equals the uninterrupted one.
source "$(dirname "$0")/e2e/lib.sh"
export CLSWEEP_SCHED_REPORT=1
Y=tests/e2e/chunks.yaml
# journal records: "CLSJ" frames, less the one in the file header "CLSJOURNAL1"
nrec() { echo $(( $(grep -ao CLSJ "$1" 2>/dev/null | wc -l) - 1 )); }

"$CLSWEEP" run $Y --output "$TMP/ref.nc" 2>"$TMP/ref.err"
check "one-process reference sweep" test $? -eq 0

timeout 300 $MPIRUN -np 3 "$CLSWEEP" run $Y --output "$TMP/a.nc" 2>"$TMP/a.err"
check "np 3 sweep exits 0" test $? -eq 0
chunk=$(sed -nE 's/.*work message\(s\), up to ([0-9]+) run\(s\) each.*/\1/p' "$TMP/a.err")
msgs=$(sed -nE 's/.* ([0-9]+) work message\(s\).*/\1/p' "$TMP/a.err")
echo "# $msgs work messages, up to ${chunk:-?} runs each"
check "runs go out in chunks (> 1 run per message)" test "${chunk:-0}" -gt 1
check "fewer work messages than runs" test "${msgs:-3000}" -lt 1000
check "3000 runs recorded" grep -q "scheduler: 3000 runs" "$TMP/a.err"
check "chunked np 3 file equals the one-process file" nc_equal "$TMP/ref.nc" "$TMP/a.nc"
recs=$(nrec "$TMP/a.nc.journal")
check "journal holds each run once (3000 records, got $recs)" test "$recs" -eq 3000

# SIGUSR1 (SLURM's warning; mpirun forwards it to every rank) mid-sweep: exit 3; the
# workers stop inside their chunks; resume finishes.
out=$TMP/t.nc
$MPIRUN -np 3 "$CLSWEEP" run $Y --output "$out" 2>"$TMP/t.err" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(nrec "$out.journal")" -ge 300 ] && break
    sleep 0.02
done
kill -USR1 "$pid"
wait "$pid"
rc=$?
recs=$(nrec "$out.journal")
echo "# SIGUSR1: exit $rc with $recs of 3000 runs in the journal"
check "SIGUSR1 mid-sweep exits 3 (got $rc)" test $rc -eq 3
check "SIGUSR1 stopped before the end ($recs runs)" test "$recs" -lt 3000
timeout 300 $MPIRUN -np 3 "$CLSWEEP" run $Y --output "$out" 2>"$TMP/t2.err"
check "resume after SIGUSR1 completes" test $? -eq 0
check "stopped-and-resumed file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
recs=$(nrec "$out.journal")
check "no run journaled twice across the stop (3000 records, got $recs)" test "$recs" -eq 3000

# SIGKILL of the whole job mid-sweep, then resume.
out=$TMP/k.nc
setsid $MPIRUN -np 3 "$CLSWEEP" run $Y --output "$out" 2>"$TMP/k.err" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(nrec "$out.journal")" -ge 500 ] && break
    sleep 0.02
done
# the whole job: mpirun's process group and the ranks (Open MPI gives them their own)
kill -9 -- -"$pid" 2>/dev/null
pkill -9 -f "output $out" 2>/dev/null
wait "$pid" 2>/dev/null
for _ in $(seq 1 200); do pgrep -f "output $out" >/dev/null || break; sleep 0.05; done
recs=$(nrec "$out.journal")
echo "# SIGKILL with $recs records in the journal"
timeout 300 $MPIRUN -np 3 "$CLSWEEP" run $Y --output "$out" 2>"$TMP/k2.err"
rc=$?
check "resume after SIGKILL completes (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/k2.err" | tail -n 5
check "killed-and-resumed file equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
# SIGTERM to the master alone (the workers do not get it), long runs: each worker holds a
# prefetched run besides the one it computes; the master cancels them, so they come back
# unstarted, the job exits 3 long before the grace period, and the resume completes.
cat > "$TMP/long.yaml" <<YAML
name: long
benchmark: {name: teacher_student, blocks: 1, block_size: 1, batch: 1, test_size: 1}
models: [crashtest]
seeds: 1
defaults: {analysis.when: none, crashtest.work: 150}
grid:
  crashtest.at_stage: {range: [0, 16, 1]}
options: {isolate: true, quiet: false}
YAML
"$CLSWEEP" run "$TMP/long.yaml" --output "$TMP/lref.nc" --quiet 2>/dev/null
out=$TMP/l.nc
t0=$(date +%s)
$MPIRUN -np 3 "$CLSWEEP" run "$TMP/long.yaml" --output "$out" 2>"$TMP/l.err" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(nrec "$out.journal")" -ge 3 ] && break
    sleep 0.05
done
master=""
for p in $(pgrep -f "output $out"); do
    grep -qz '^OMPI_COMM_WORLD_RANK=0$' /proc/$p/environ 2>/dev/null && master=$p
done
[ -n "$master" ] && kill -TERM "$master"
wait "$pid"
rc=$?
el=$(( $(date +%s) - t0 ))
grep "pending again" "$TMP/l.err" | sed "s/^/# /"
check "master found (rank 0 of the job)" test -n "$master"
check "SIGTERM to the master alone: exit 3 (got $rc)" test $rc -eq 3
check "... within the runs in flight, not the 60 s grace (${el} s)" test "$el" -lt 30
check "... the workers' prefetched runs came back unstarted" grep -q "handed out but stopped or not started" "$TMP/l.err"
$MPIRUN -np 3 "$CLSWEEP" run "$TMP/long.yaml" --output "$out" --quiet
check "resume after the master's stop completes" test $? -eq 0
check "... and equals the uninterrupted sweep" nc_equal "$TMP/lref.nc" "$out"
finish
