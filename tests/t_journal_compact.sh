#!/usr/bin/env bash
# Issue 23: journal compaction. Once the journal exceeds CLSWEEP_JOURNAL_COMPACT_BYTES (64 MiB
# by default; 3,000 bytes here) and the .nc has just been written with every recorded run,
# the journal is replaced by a "CLSJOURNAL2" one that continues the .nc (journal_compact).
# Checked: a compacted sweep's file equals an uncompacted one's and its journal is small;
# kill -9 of the job at random moments, resumed each time, ends with the same file; a
# compacted journal without its .nc (or next to a .nc with fewer runs) is refused with
# exit 2 and a message saying what to do; a journal that compacted nothing still resumes.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

cat >"$TMP/c.yaml" <<'YAML'
name: compact
benchmark: {name: teacher_student, blocks: 2, block_size: 5, batch: 10, test_size: 20}
models: [crashtest]
seeds: 4
defaults: {crashtest.work: 2}
grid:
  crashtest.ws_dim: {range: [1, 31, 1]}
options: {isolate: false, flush_seconds: 0.01}
YAML
"$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/ref.nc" --quiet 2>/dev/null || notok "reference sweep"
refj=$(stat -c %s "$TMP/ref.nc.journal")
export CLSWEEP_JOURNAL_COMPACT_BYTES=3000
$MPIRUN -np 2 "$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/c.nc" --quiet 2>"$TMP/c.err"
check "a sweep whose journal is compacted: exit 0" test $? -eq 0
check "  ... equals the uncompacted sweep" nc_equal "$TMP/ref.nc" "$TMP/c.nc"
cj=$(stat -c %s "$TMP/c.nc.journal")
check "  ... its journal is compacted ($cj bytes, uncompacted $refj)" \
    bash -c "head -c 11 '$TMP/c.nc.journal' | grep -q CLSJOURNAL2 && [ $cj -lt $refj ]"
$MPIRUN -np 2 "$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/c.nc" --quiet 2>/dev/null
check "  ... running it again: exit 0, nothing to do" test $? -eq 0
check "  ... the file unchanged" nc_equal "$TMP/ref.nc" "$TMP/c.nc"

out=$TMP/k.nc
readable=1 leftover=0
for round in 1 2 3 4; do
    setsid $MPIRUN -np 2 "$CLSWEEP" run "$TMP/c.yaml" --output "$out" --quiet 2>>"$TMP/k.err" &
    pid=$!
    sleep "$((round / 2)).$((RANDOM % 10))"
    kill_job "$pid" "$out"
done
check "kill -9 at random moments: the sweep file is readable after every kill" test $readable -eq 1
check "  ... no process of a killed job is alive" test $leftover -eq 0
$MPIRUN -np 2 "$CLSWEEP" run "$TMP/c.yaml" --output "$out" --quiet 2>>"$TMP/k.err"
check "  ... the resumed sweep completes" test $? -eq 0
check "  ... and equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
grep -q CLSJOURNAL2 "$out.journal" || echo "# (no compaction happened in this round)"

mv "$TMP/c.nc" "$TMP/c.away"
"$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/c.nc" --quiet 2>"$TMP/m.err"
check "a compacted journal without its .nc: exit 2" test $? -eq 2
check "  ... saying so" grep -q "compacted journal: the [0-9]* runs recorded before its compaction are in .*c.nc, which is missing" "$TMP/m.err"
check "  ... and writing no .nc" test ! -e "$TMP/c.nc"
cat >"$TMP/one.yaml" <<'YAML'
name: compact
benchmark: {name: teacher_student, blocks: 2, block_size: 5, batch: 10, test_size: 20}
models: [crashtest]
seeds: 1
defaults: {crashtest.work: 2}
grid:
  crashtest.ws_dim: [1]
options: {isolate: false}
YAML
"$CLSWEEP" run "$TMP/one.yaml" --output "$TMP/one.nc" --quiet 2>/dev/null
cp "$TMP/one.nc" "$TMP/c.nc"
"$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/c.nc" --quiet 2>"$TMP/f.err"
check "a compacted journal next to a .nc with fewer runs: exit 2" test $? -eq 2
check "  ... saying so" grep -q "fewer than the [0-9]* its compacted journal" "$TMP/f.err"
mv "$TMP/c.away" "$TMP/c.nc"
"$CLSWEEP" run "$TMP/c.yaml" --output "$TMP/c.nc" --quiet 2>/dev/null
check "with its .nc back: exit 0" test $? -eq 0
finish
