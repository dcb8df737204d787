#!/usr/bin/env bash
# The tuning protocol (issue 21) end to end, on crashtest (a quality known in advance: its
# evaluation is 0.6 + 0.01 t + quality, mse, lower is better) and finetune on a 3-task
# teacher-student stream: phase 1 on the first 2 tasks with tune seeds 100 and 101, the
# selection per model, phase 2 on all 3 tasks with seeds 0-2. Checked: phase 2 runs exactly
# the configuration a selection recomputed here from the phase-1 rows picks (and records
# it); no phase-2 run of a model is journaled before its last phase-1 run; 3 MPI ranks give
# the same file; kill -9 in phase 1, at the boundary and in phase 2, then resume, gives the
# file of an uninterrupted sweep; a model without an eligible configuration gets failed
# phase-2 runs; status, merge and the analysis loader read the file.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT

sweep() {  # sweep WORK [MODE]
    cat <<YAML
name: proto
benchmark: {name: teacher_student, contexts: 3, d_out: 5, blocks: 3, block_size: 20, batch: 10, test_size: 20}
models: [crashtest, finetune]
defaults: {crashtest.work: $1, crashtest.mode: ${2:-ok}, crashtest.at_stage: 1}
grid:
  crashtest.quality: [0.3, 0.0, 0.2]
  train.lr: [0.01, 0.05]
protocol:
  tune: {tasks: 2, seeds: [100, 101]}
  select: {metric: acc, per: model}
  evaluate: {seeds: 3}
YAML
}
sweep 0 >"$TMP/p.yaml"
sweep 20 >"$TMP/slow.yaml"
sweep 0 nan >"$TMP/nan.yaml"

"$CLSWEEP" expand "$TMP/p.yaml" >"$TMP/expand.txt" 2>&1
check "expand lists 10 phase-1 runs and 6 placeholders selected at run time" \
    test "$(grep -c 'protocol.phase=1' "$TMP/expand.txt")" -eq 10 -a \
         "$(grep -c 'protocol.phase=2 protocol.selected=(selected at run time)' "$TMP/expand.txt")" -eq 6

"$CLSWEEP" run "$TMP/p.yaml" --output "$TMP/solo.nc" 2>"$TMP/solo.err"
check "protocol sweep exits 0" test $? -eq 0
check "the selection is printed per model" \
    test "$(grep -c 'protocol: .*: selected [0-9a-f]\{16\} (acc' "$TMP/solo.err")" -eq 2

cat >"$TMP/check.py" <<'PY'
import sys, re, netCDF4, numpy as np
d = netCDF4.Dataset(sys.argv[1])
n = len(d["status"])
S = lambda v: [str(x) for x in d[v][:]]
ids, model, st, cfgs = S("run_id"), S("model"), S("status"), S("config")
F = lambda v: np.ma.filled(d[v][:].astype(float), np.nan)
phase, acc, ns, selmean = F("phase"), F("acc"), F("nstages"), F("selection_mean")
cfg = [dict(t.split("=", 1) for t in re.split(r" (?=[A-Za-z_][A-Za-z0-9_.]*=)", c)) for c in cfgs]
bad = []
for m in sorted(set(model)):
    p1 = [i for i in range(n) if model[i] == m and phase[i] == 1]
    p2 = [i for i in range(n) if model[i] == m and phase[i] == 2]
    if len(p2) != 3: bad.append(f"{m}: {len(p2)} phase-2 runs")
    cand = {}
    for i in p1:
        if ns[i] != 2: bad.append(f"{m} phase-1 run {ids[i]}: {ns[i]} stages, expected 2")
        key = tuple(sorted((k, v) for k, v in cfg[i].items() if k != "seed"))
        cand.setdefault(key, []).append(i)
    # eligible: every run ok; mse: lower mean acc wins; ties: the lowest run id
    means = {k: (np.mean([acc[i] for i in v]), min(ids[i] for i in v))
             for k, v in cand.items() if all(st[i] == "ok" for i in v)}
    win = min(means, key=lambda k: means[k])
    wid = means[win][1]
    for i in p2:
        if st[i] != "ok" or ns[i] != 3: bad.append(f"{m} phase-2 {ids[i]}: {st[i]}, {ns[i]} stages")
        got = {k: v for k, v in cfg[i].items() if k not in ("seed", "protocol.selected")}
        want = {k: v for k, v in win if k != "benchmark.tune_tasks"}
        want["protocol.phase"] = "2"
        if got != want: bad.append(f"{m} phase-2 {ids[i]} config {got} != winner {want}")
        if cfg[i].get("protocol.selected") != wid: bad.append(f"{m}: selected {cfg[i].get('protocol.selected')} != {wid}")
        if abs(selmean[i] - means[win][0]) > 1e-9: bad.append(f"{m}: selection_mean {selmean[i]} != {means[win][0]}")
    if m == "crashtest" and cfg[p2[0]].get("crashtest.quality") != "0":
        bad.append(f"crashtest: quality {cfg[p2[0]].get('crashtest.quality')} chosen, 0 is best")
    print(f"# {m}: winner {wid} mean {means[win][0]:.6g} of {len(means)} candidates")
if bad: print("# " + "\n# ".join(bad))
sys.exit(1 if bad else 0)
PY
check "phase 2 runs exactly the configuration the selection picks (recomputed here)" \
    "$PY" "$TMP/check.py" "$TMP/solo.nc"

# Order: every phase-1 record of a model precedes its first phase-2 record in the journal.
cat >"$TMP/order.py" <<'PY'
import sys, netCDF4, numpy as np
d = netCDF4.Dataset(sys.argv[1])
j = open(sys.argv[2], "rb").read()
ids = [str(x) for x in d["run_id"][:]]
model = [str(x) for x in d["model"][:]]
phase = np.ma.filled(d["phase"][:].astype(float), np.nan)
pos = [j.find(i.encode()) for i in ids]
bad = [i for i in range(len(ids)) if pos[i] < 0]
for m in set(model):
    last1 = max(pos[i] for i in range(len(ids)) if model[i] == m and phase[i] == 1)
    first2 = min(pos[i] for i in range(len(ids)) if model[i] == m and phase[i] == 2)
    print(f"# {m}: last phase-1 record at byte {last1}, first phase-2 at {first2}")
    if first2 < last1: bad.append(m)
sys.exit(1 if bad else 0)
PY
check "no phase-2 run journaled before its model's phase 1 is complete" \
    "$PY" "$TMP/order.py" "$TMP/solo.nc" "$TMP/solo.nc.journal"

$MPIRUN -np 3 "$CLSWEEP" run "$TMP/p.yaml" --output "$TMP/mpi.nc" --quiet 2>"$TMP/mpi.err"
check "protocol sweep under 3 MPI ranks exits 0" test $? -eq 0
check "3 MPI ranks: the same file as one process" nc_equal "$TMP/solo.nc" "$TMP/mpi.nc"
check "3 MPI ranks: phase 2 of a model after its phase 1" \
    "$PY" "$TMP/order.py" "$TMP/mpi.nc" "$TMP/mpi.nc.journal"

# kill -9 in phase 1 (3 records), at the boundary (crashtest's 6 phase-1 runs are handed out
# first: the longest), in phase 2 (11), then resume: equal to an uninterrupted sweep.
"$CLSWEEP" run "$TMP/slow.yaml" --output "$TMP/ref.nc" --quiet 2>"$TMP/ref.err" || notok "reference sweep"
out=$TMP/k.nc
for n in 3 6 11; do
    setsid "$CLSWEEP" run "$TMP/slow.yaml" --output "$out" --quiet 2>>"$TMP/k.err" &
    pid=$!
    wait_records "$out.journal" "$n"
    kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    for _ in $(seq 1 50); do [ "$(survivors "$out")" -eq 0 ] && break; sleep 0.1; done
    kill_survivors "$out"
    echo "# killed after $(nrecords "$out.journal") record(s)"
done
"$CLSWEEP" run "$TMP/slow.yaml" --output "$out" 2>"$TMP/r.err"
check "resumed protocol sweep exits 0" test $? -eq 0
check "the resume selected from the journaled phase 1" grep -q "protocol: crashtest: selected" "$TMP/r.err"
check "killed in phase 1, at the boundary and in phase 2, resumed: equal to uninterrupted" \
    nc_equal "$TMP/ref.nc" "$out"

"$CLSWEEP" run "$TMP/nan.yaml" --output "$TMP/nan.nc" 2>"$TMP/nan.err"
check "a model without an eligible configuration: the sweep still ends (exit 0)" test $? -eq 0
cat >"$TMP/nan.py" <<'PY'
import sys, netCDF4, numpy as np
d = netCDF4.Dataset(sys.argv[1])
st = [str(x) for x in d["status"][:]]
msg = [str(x) for x in d["message"][:]]
model = [str(x) for x in d["model"][:]]
phase = np.ma.filled(d["phase"][:].astype(float), np.nan)
c2 = [i for i in range(len(st)) if model[i] == "crashtest" and phase[i] == 2]
f2 = [i for i in range(len(st)) if model[i] == "finetune" and phase[i] == 2]
ok = (len(c2) == 3 and all(st[i] == "failed" and "no eligible configuration" in msg[i] for i in c2)
      and all(st[i] == "ok" for i in f2))
print(f"# crashtest phase 2: {[st[i] for i in c2]}; finetune: {[st[i] for i in f2]}")
sys.exit(0 if ok else 1)
PY
check "its phase-2 runs are failed (no eligible configuration); the other model's run" \
    "$PY" "$TMP/nan.py" "$TMP/nan.nc"

"$CLSWEEP" status "$TMP/solo.nc" >"$TMP/status.txt" 2>&1
check "status reads the protocol file" test $? -eq 0
"$CLSWEEP" merge "$TMP/merged.nc" "$TMP/solo.nc" --sweep "$TMP/p.yaml" >"$TMP/merge.txt" 2>&1
check "merge reads it (one part, the whole sweep)" test $? -eq 0
check "merged file equals the part" nc_equal "$TMP/solo.nc" "$TMP/merged.nc"
cat >"$TMP/load.py" <<'PY'
import sys
sys.path.insert(0, "analysis")
import clsweep_results as cr
df = cr.load(sys.argv[1])
ok = "phase" in df and sorted(df["phase"].unique().tolist()) == [1, 2] and len(df) == 16
print(f"# phases {df['phase'].value_counts().to_dict() if 'phase' in df else None}")
import aggregate
sys.exit(0 if ok else 1)
PY
check "the analysis loader has a phase column (1, 2)" "$PY" "$TMP/load.py" "$TMP/solo.nc"
analysis/aggregate "$TMP/solo.nc" --out "$TMP/summary" >"$TMP/agg.txt" 2>&1
check "aggregate reads it and keeps the phases apart" grep -q "phase" "$TMP/summary.md"
finish
