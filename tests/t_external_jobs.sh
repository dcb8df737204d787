#!/usr/bin/env bash
# Program and plugin models beyond one `clsweep run` (issue 19): run ids do not depend on
# where the project directory lies (moving it keeps every id, and a moved sweep resumes with
# every run already done); the batch script of jobs/submit (run here without SLURM,
# --launcher none) and `--shard I/N` + `clsweep merge` give the file of a one-job run.
source "$(dirname "$0")/e2e/lib.sh"
A=$TMP/projA
mkdir -p "$A/ext"
cp tests/e2e/ext/prior.py "$A/ext/"
have_cc=0
if command -v cc >/dev/null && cc -std=c11 -fPIC -shared -Iinclude -o "$A/libl2mlp.so" \
        examples/c_plugin/l2mlp.c -lm 2>"$TMP/cc.err"; then
    have_cc=1
fi
models="[finetune, prior$([ $have_cc = 1 ] && echo ', plugin:libl2mlp.so')]"
cat > "$A/x.yaml" <<YAML
name: jobs
benchmark: {name: split_mnist, train_per_task: 100, test_per_task: 50, block_size: 1}
programs:
  prior:
    command: [python3, ext/prior.py]
    params: {prior.mode: {type: str, default: ok}, prior.bonus: {type: float, default: 0}}
models: $models
seeds: 2
grid: {prior.bonus: [0, 0.5]}
YAML
ids() { "$CLSWEEP" expand "$1" 2>/dev/null | grep -oE '^[0-9a-f]{16} ' | sort; }
nruns=$((2 + 4 + 2 * have_cc))
ids "$A/x.yaml" > "$TMP/ids1"
check "the sweep lists its $nruns runs" test "$(wc -l < "$TMP/ids1")" -eq "$nruns"
"$CLSWEEP" run "$A/x.yaml" --output "$A/a.nc" --quiet 2>"$TMP/a.err"
check "the sweep runs" test $? -eq 0
mv "$A" "$TMP/projB"
B=$TMP/projB
ids "$B/x.yaml" > "$TMP/ids2"
check "moving the project directory keeps every run id" cmp -s "$TMP/ids1" "$TMP/ids2"
"$CLSWEEP" run "$B/x.yaml" --output "$B/a.nc" 2>"$TMP/b.err"
check "the moved sweep resumes with every run already done" grep -q "$nruns already done" "$TMP/b.err"
"$CLSWEEP" run "$B/x.yaml" --output "$TMP/ref.nc" --quiet 2>>"$TMP/b.err"
check "the moved sweep runs its programs from the new place" nc_equal "$B/a.nc" "$TMP/ref.nc"

# jobs/submit's batch script, run locally.
jobs/submit "$B/x.yaml" --clsweep "$CLSWEEP" --dry-run --launcher none --ntasks 1 \
    --output "$TMP/j/r.nc" > "$TMP/job.txt" 2>&1
awk '/^# ---- /{if (n++) exit; next} /^# submit:/{exit} n' "$TMP/job.txt" > "$TMP/job.sh"
mkdir -p "$TMP/j"
bash "$TMP/job.sh" > "$TMP/job.log" 2>&1
check "jobs/submit's script completes the sweep" test $? -eq 0
check "jobs/submit's file equals a one-job run" nc_equal "$TMP/ref.nc" "$TMP/j/r.nc"

# Shards and merge.
for i in 0 1; do
    "$CLSWEEP" run "$B/x.yaml" --shard "$i/2" --output "$TMP/part$i.nc" --quiet 2>>"$TMP/s.err" ||
        notok "shard $i/2 exits 0"
done
"$CLSWEEP" merge "$TMP/merged.nc" "$TMP/part0.nc" "$TMP/part1.nc" 2>"$TMP/merge.err"
check "merge of two shards exits 0" test $? -eq 0
check "the merged file equals a one-job run" nc_equal "$TMP/ref.nc" "$TMP/merged.nc"

# clsweep params / single know the sweep's programs and plugins (--sweep).
"$CLSWEEP" params --sweep "$B/x.yaml" prior > "$TMP/pp" 2>&1
check "params --sweep lists a program's keys" grep -q "^  prior.bonus  *float" "$TMP/pp"
"$CLSWEEP" params --sweep "$B/x.yaml" > "$TMP/pall" 2>&1
check "params --sweep lists built-ins and the program" \
    bash -c "grep -q '^model finetune' '$TMP/pall' && grep -q '^model prior (program)' '$TMP/pall'"
"$CLSWEEP" single --sweep "$B/x.yaml" --model prior --set prior.bonus=0.5 > "$TMP/single" 2>&1
check "single --sweep runs one run of a program" \
    bash -c "grep -q '^acc ' '$TMP/single' && grep -q '^ext_classes_seen 10' '$TMP/single'"
"$CLSWEEP" single --sweep "$B/x.yaml" --model prior --set prior.nope=1 > "$TMP/single2" 2>&1
check "single --sweep refuses a key the program does not have" \
    bash -c "test $? -eq 2 && grep -q \"unknown key 'prior.nope'\" '$TMP/single2'"
if [ $have_cc = 1 ]; then
    "$CLSWEEP" params --sweep "$B/x.yaml" l2mlp > "$TMP/pl" 2>&1
    check "params --sweep lists a plugin's keys" grep -q "^  l2mlp.lambda  *float  *default 1 " "$TMP/pl"
    "$CLSWEEP" single --sweep "$B/x.yaml" --model l2mlp --seed 1 --set l2mlp.hidden=16 > "$TMP/ps" 2>&1
    check "single --sweep runs one run of a plugin" grep -q '^plugin_last_loss ' "$TMP/ps"
fi
finish
