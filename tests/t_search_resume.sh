#!/usr/bin/env bash
# Random search (issue 21) end to end: `expand` shows the drawn points and prints the same
# runs every time; a random sweep killed (SIGKILL, whole process) after a few runs and
# resumed draws the same points, skips the finished runs and ends equal to an uninterrupted
# sweep, run by run.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

Y=$TMP/random.yaml
cat > "$Y" <<'YAML'
name: random
benchmark: {name: teacher_student, blocks: 4, block_size: 600, batch: 50, test_size: 200}
models: [finetune, ewc]
seeds: 2
defaults: {mlp.hidden: [32], ewc.fisher_samples: 20}
search: {method: random, samples: 4, seed: 9}
grid:
  train.lr: {loguniform: [0.005, 0.1]}
  ewc.lambda: {qloguniform: [1, 1000, 1]}
  mlp.hidden: {choice: [[32], [16]]}
exclude:
  - {mlp.hidden: [16]}
YAML

"$CLSWEEP" expand "$Y" >"$TMP/e1" 2>&1 || notok "expand a random sweep"
"$CLSWEEP" expand "$Y" >"$TMP/e2" 2>&1
check "expand prints the same drawn runs twice" cmp -s "$TMP/e1" "$TMP/e2"
check "expand: 16 runs, drawn lr values shown" grep -q "16 runs" "$TMP/e1"
check "expand: the excluded choice is never drawn" sh -c "! grep -q 'mlp.hidden=\[16\]' '$TMP/e1'"

"$CLSWEEP" run "$Y" --output "$TMP/ref.nc" --quiet 2>"$TMP/ref.err" || notok "reference sweep"
out=$TMP/k.nc
setsid "$CLSWEEP" run "$Y" --output "$out" --quiet 2>"$TMP/k.err" &
pid=$!
wait_records "$out.journal" 3
kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid"
wait "$pid" 2>/dev/null
done_before=$(nrecords "$out.journal")
"$CLSWEEP" run "$Y" --output "$out" 2>"$TMP/r.err"
rc=$?
check "resumed random sweep exits 0 (got $rc)" test $rc -eq 0
skipped=$(sed -n 's/.* \([0-9]*\) already done.*/\1/p' "$TMP/r.err" | head -1)
check "the resume skipped the finished runs (${skipped:-none} of $done_before journaled)" \
    test "${skipped:-0}" -ge 1
check "resumed random sweep equals the uninterrupted one" nc_equal "$TMP/ref.nc" "$out"
finish
