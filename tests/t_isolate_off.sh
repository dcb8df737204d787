#!/usr/bin/env bash
# Issue 17 item 8: `isolate: false` and the run limits. A limit needs a run process of its
# own, so run_time_limit / run_memory_mb with isolate: false is refused (exit 2, a message
# naming the option) instead of silently dropped; and a hung run executing in the rank's own
# process cannot ignore SIGTERM: grace_seconds + 10 s after the signal the process exits 3
# (every finished run is in the journal; the resume is exact).
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

for opt in "run_time_limit: 5" "run_memory_mb: 1024"; do
    key=${opt%%:*}
    sed "s/^output:.*/options: {isolate: false, $opt}/" tests/e2e/tiny.yaml > "$TMP/$key.yaml"
    "$CLSWEEP" run "$TMP/$key.yaml" --output "$TMP/$key.nc" --quiet 2>"$TMP/$key.err"
    rc=$?
    check "isolate: false + $key: refused, exit 2 (got $rc)" test $rc -eq 2
    check "isolate: false + $key: the message names isolate and $key" \
        grep -q "isolate: false cannot enforce $key" "$TMP/$key.err"
    check "isolate: false + $key: nothing was run" test ! -e "$TMP/$key.nc.journal"
done

cat >"$TMP/hang.yaml" <<'YAML'
name: hang
benchmark: {name: teacher_student, blocks: 2, block_size: 20, batch: 10, test_size: 50}
models: [crashtest]
seeds: 2
defaults: {crashtest.at_stage: 1, crashtest.mode: hang}
options: {grace_seconds: 1, isolate: false}
YAML
out=$TMP/hang.nc
"$CLSWEEP" run "$TMP/hang.yaml" --output "$out" --quiet 2>"$TMP/hang.err" &
pid=$!
sleep 1.5
kill -TERM "$pid"
t0=$SECONDS
for _ in $(seq 1 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    notok "isolate: false, hung run, SIGTERM: exits within grace + 10 s (still running after 25 s)"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
else
    wait "$pid"
    rc=$?
    check "isolate: false, hung run, SIGTERM: exit 3 within grace + 10 s (rc $rc, ~$((SECONDS - t0)) s)" \
        test $rc -eq 3 -a $((SECONDS - t0)) -le 15
    check "isolate: false, hung run, SIGTERM: says why" grep -q "did not stop within the grace period" "$TMP/hang.err"
fi
finish
