#!/usr/bin/env bash
# Issue 23: the .nc of a large sweep is rewritten in the background (src/sweep/ncbg.c) while
# the master keeps dispatching, also as soon as the journal passes its compaction limit, and
# the journal is then compacted down to the records journaled during the write.
# CLSWEEP_NC_BG_RUNS=0 forces that path on a small sweep, CLSWEEP_JOURNAL_COMPACT_BYTES=3000
# makes the journal due often. Checked: the file equals the one of a plain sweep, writes did
# happen in the background and the journal was compacted during the sweep; kill -9 of the
# job at random moments, resumed each time, leaves a readable file after every kill and
# ends with the same file; no temporary file is left; a full disk during a background write
# exits 2 with the reason, and after space is freed the resume completes.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; umount "$TMP/full" 2>/dev/null; rm -rf "$TMP"' EXIT

cat >"$TMP/c.yaml" <<'YAML'
name: background
benchmark: {name: teacher_student, blocks: 2, block_size: 5, batch: 10, test_size: 20}
models: [crashtest]
seeds: 4
defaults: {crashtest.work: 2}
grid:
  crashtest.ws_dim: {range: [1, 61, 1]}
options: {isolate: false, flush_seconds: 0.01}
YAML
"$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/ref.nc" --quiet 2>/dev/null || notok "reference sweep"
export CLSWEEP_NC_BG_RUNS=0 CLSWEEP_JOURNAL_COMPACT_BYTES=3000
CLSWEEP_SCHED_REPORT=1 $MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/c.nc" --quiet 2>"$TMP/c.err"
check "writes in the background (mpirun -np 3): exit 0" test $? -eq 0
check "  ... equal to the plain sweep's file" nc_equal "$TMP/ref.nc" "$TMP/c.nc"
nbg=$(sed -nE 's/.*; ([0-9]+) more in the background.*/\1/p' "$TMP/c.err")
ncomp=$(sed -nE 's/.*; ([0-9]+) journal compaction\(s\).*/\1/p' "$TMP/c.err")
check "  ... some writes were in the background (${nbg:-none})" test "${nbg:-0}" -gt 0
check "  ... the journal was compacted during the sweep (${ncomp:-0} times)" test "${ncomp:-0}" -gt 1
check "  ... no temporary file left" test -z "$(find "$TMP" -maxdepth 1 -name '*.tmp.*' -print -quit)"

out=$TMP/k.nc
readable=1 leftover=0
for round in 1 2 3 4 5; do
    setsid $MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$out" --quiet 2>>"$TMP/k.err" &
    pid=$!
    sleep "$((round / 2)).$((RANDOM % 10))"
    kill_job "$pid" "$out"
done
check "kill -9 at random moments: the sweep file is readable after every kill" test $readable -eq 1
check "  ... no process of a killed job is alive" test $leftover -eq 0
$MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$out" --quiet 2>>"$TMP/k.err"
check "  ... the resumed sweep completes" test $? -eq 0
check "  ... and equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
check "  ... no temporary file left" test -z "$(find "$TMP" -maxdepth 1 -name 'k.nc.tmp.*' -print -quit)"

# A background write that fails: the sweep file is replaced by a foreign file mid-sweep
# (no compaction here: a compacted journal needs the .nc it continues).
fo=$TMP/f.nc
CLSWEEP_JOURNAL_COMPACT_BYTES=1000000000 setsid $MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$fo" --quiet 2>"$TMP/f.err" &
pid=$!
for _ in $(seq 1 200); do [ -f "$fo" ] && break; sleep 0.05; done
echo "not a sweep file" >"$fo.foreign" && mv "$fo.foreign" "$fo"
wait "$pid"
rc=$?
check "a background write that fails (a foreign file at the output): exit 2" test $rc -eq 2
check "  ... the message names the file" grep -q "f.nc.*not a clsweep results file\|not a clsweep results file.*f.nc" "$TMP/f.err"
[ $rc -eq 2 ] || sed 's/^/#   /' "$TMP/f.err"
check "  ... the foreign file is untouched" grep -qx "not a sweep file" "$fo"
check "  ... no temporary file left" test -z "$(find "$TMP" -maxdepth 1 -name 'f.nc.tmp.*' -print -quit)"
rm -f "$fo"
CLSWEEP_JOURNAL_COMPACT_BYTES=1000000000 $MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$fo" --quiet 2>/dev/null
check "  ... with it removed, the resume completes" test $? -eq 0
check "  ... and equals the uninterrupted sweep" nc_equal "$TMP/ref.nc" "$fo"

full=$TMP/full
mkdir -p "$full"
if mount -t tmpfs -o size=96k tmpfs "$full" 2>/dev/null; then
    $MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$full/out.nc" --quiet 2>"$TMP/e7"
    rc=$?
    check "disk full during background writes: exit 2" test $rc -eq 2
    check "  ... the message gives the reason" grep -q "No space left on device" "$TMP/e7"
    [ $rc -eq 2 ] || sed 's/^/#   /' "$TMP/e7"
    check "  ... no temporary file is left behind" test -z "$(find "$full" -maxdepth 1 -name '*.tmp*' -print -quit)"
    mount -o remount,size=8m "$full"
    $MPIRUN -np 3 "$CLSWEEP" run "$TMP/c.yaml" --output "$full/out.nc" --quiet 2>/dev/null
    check "  ... after space is freed the resume completes" test $? -eq 0
    check "  ... and equals the uninterrupted sweep" nc_equal "$TMP/ref.nc" "$full/out.nc"
    umount "$full"
else
    ok "disk full during background writes # SKIP cannot mount a tmpfs here"
fi
finish
