#!/usr/bin/env bash
# The anytime curve (eval.every) of the models with their own training loops through the
# sweeper (tests/e2e/curve_models.yaml: ewgn and gated): a 2-rank MPI sweep SIGKILLed and
# resumed gives the file of one uninterrupted single-process sweep, R_curve included bit for
# bit; each run's curve points follow eval.every. And eval.every is never silently dropped:
# for an external program (as for a C plugin: both record no curve) it is a located error,
# while a model-scoped "finetune.eval.every" sets it for finetune alone. C plugins of ABI 2
# (host->step) record one; ABI 1 plugins are refused like programs.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
Y=tests/e2e/curve_models.yaml

"$CLSWEEP" run $Y --output "$TMP/ref.nc" --quiet || notok "reference sweep"
"$PY" - "$TMP/ref.nc" <<'PYEOF'
import sys, numpy as np, netCDF4
d = netCDF4.Dataset(sys.argv[1])
every = np.asarray(d["eval__every"][:])
steps = np.ma.filled(d["curve_step"][:], np.nan)
stage = np.ma.filled(d["curve_stage"][:], np.nan)
Rc = np.ma.filled(d["R_curve"][:], np.nan)
model = [str(m) for m in d["model"][:]]
status = [str(s) for s in d["status"][:]] if "status" in d.variables else None
S = int(d["nstages"][0])
for i in range(len(every)):
    n = np.isfinite(steps[i]).sum()
    assert n >= 1 + S and steps[i, 0] == 0 and stage[i, n - 1] == S - 1, (i, model[i], steps[i])
    inner = steps[i, 1:n][np.diff(np.r_[stage[i, 1:n], S]) == 0]   # all but each stage's end
    assert (inner % every[i] == 0).all(), (i, model[i], inner)
    assert np.isfinite(Rc[i, :n]).all() and np.isnan(Rc[i, n:]).all(), i
    k = Rc[i, :n] * 20   # accuracies over the 20-example subset
    assert np.allclose(k, np.round(k)), (i, model[i])
    assert np.isfinite(d["anytime_acc"][i]), i
print("curve points ok for", sorted(set(model)))
PYEOF
check "ewgn and gated curves: points every eval.every steps, stage ends, finite on the subset" test $? -eq 0

out=$TMP/k.nc
setsid $MPIRUN -np 2 "$CLSWEEP" run $Y --output "$out" --quiet 2>>"$TMP/k.err" &
pid=$!
wait_records "$out.journal" 3
kill -9 -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
for _ in $(seq 1 50); do [ "$(survivors "$out")" -eq 0 ] && break; sleep 0.1; done
kill_survivors "$out"
echo "# after the kill: $(nrecords "$out.journal") journal records of 12 runs"
$MPIRUN -np 2 "$CLSWEEP" run $Y --output "$out" --quiet 2>>"$TMP/k.err"
check "the killed MPI sweep resumes to completion" test $? -eq 0
check "MPI + SIGKILL + resume: the ewgn/gated curve file equals the uninterrupted one" \
    nc_equal "$TMP/ref.nc" "$out"

# An external program records no curve: eval.every for it is refused, located.
mkdir -p "$TMP/x/ext" && cp tests/e2e/ext/prior.py "$TMP/x/ext/"
cat > "$TMP/x/p.yaml" <<'YEOF'
name: p
benchmark: {name: split_mnist, train_per_task: 50, test_per_task: 20}
programs:
  prior:
    command: [python3, ext/prior.py]
models: [finetune, prior]
defaults:
  eval.every: 5
YEOF
"$CLSWEEP" expand "$TMP/x/p.yaml" > "$TMP/p.out" 2>&1
rc=$?
check "eval.every with a program model: exit 2" test $rc -eq 2
check "... at the key's line and column, naming the program and the way out" \
    grep -q "p.yaml:8:3: eval.every 5 applies to prior, which records no anytime curve.*'finetune.eval.every: 5'" "$TMP/p.out"
sed -i 's/^  eval.every: 5/  grid_placeholder: 0/; s/^defaults:/grid:/' "$TMP/x/p.yaml"
sed -i 's/^  grid_placeholder: 0/  eval.every: [0, 3]/' "$TMP/x/p.yaml"
"$CLSWEEP" expand "$TMP/x/p.yaml" > "$TMP/p2.out" 2>&1
check "a swept eval.every with a program model: refused at the grid key" \
    grep -q "p.yaml:8:3: eval.every 3 applies to prior" "$TMP/p2.out"
sed -i 's/^  eval.every: \[0, 3\]/  eval.every: {choice: [0, 3]}/' "$TMP/x/p.yaml"
printf 'search: {method: random, samples: 2, seed: 0}\n' >> "$TMP/x/p.yaml"
"$CLSWEEP" expand "$TMP/x/p.yaml" > "$TMP/p4.out" 2>&1
check "random search: eval.every drawn for a program model is refused at the axis" \
    grep -q "p.yaml:8:3: eval.every is drawn for prior, which records no anytime curve" "$TMP/p4.out"
sed -i '/^search:/d; s/^  eval.every: {choice: \[0, 3\]}/  eval.every: [0, 3]/' "$TMP/x/p.yaml"
sed -i 's/^grid:/defaults:/; s/^  eval.every: \[0, 3\]/  finetune.eval.every: 5/' "$TMP/x/p.yaml"
"$CLSWEEP" expand "$TMP/x/p.yaml" > "$TMP/p3.out" 2>&1
check "finetune.eval.every: accepted" test $? -eq 0
check "... finetune's run records a curve, the program's run has no eval.* key" \
    bash -c "grep -q 'eval.every=5 .*model=finetune' '$TMP/p3.out' && ! grep 'model=prior' '$TMP/p3.out' | grep -q eval"

# C plugins: one of ABI 2 (the example l2mlp calls host->step after each SGD step) records a
# curve that leaves R unchanged and ends each stage on R's row; one of ABI 1 still runs, but
# eval.every for it is refused, located.
mkdir -p "$TMP/pl"
cc -std=c11 -O2 -fPIC -shared -Iinclude -o "$TMP/pl/libl2mlp.so" examples/c_plugin/l2mlp.c -lm &&
    cc -std=c11 -fPIC -shared -Iinclude -o "$TMP/pl/libabi1.so" tests/e2e/plugin/abi1.c
check "the plugins build against include/clsweep/plugin.h" test -s "$TMP/pl/libabi1.so"
cat > "$TMP/pl/s.yaml" <<'YEOF'
name: pl
benchmark: {name: split_mnist, train_per_task: 100, test_per_task: 40}
models: [plugin:libl2mlp.so, plugin:libabi1.so]
defaults: {l2mlp.hidden: 16}
grid:
  l2mlp.eval.every: [0, 2]
YEOF
"$CLSWEEP" run "$TMP/pl/s.yaml" --output "$TMP/pl/o.nc" --quiet 2>"$TMP/pl/err"
check "a sweep of an ABI-2 plugin with a curve and an ABI-1 plugin completes" test $? -eq 0
"$PY" - "$TMP/pl/o.nc" <<'PYEOF'
import sys, numpy as np, netCDF4
d = netCDF4.Dataset(sys.argv[1])
model = [str(m) for m in d["model"][:]]
R = np.asarray(d["R"][:])
assert [str(s) for s in d["status"][:]] == ["ok"] * 3, list(d["status"][:])
has = np.isfinite(np.ma.filled(d["curve_step"][:], np.nan)).any(axis=1)
a = [i for i in range(3) if model[i] == "l2mlp" and not has[i]][0]
b = [i for i in range(3) if model[i] == "l2mlp" and has[i]][0]
assert np.array_equal(R[a], R[b]), "R changed by the curve"
st = np.ma.filled(d["curve_step"][:], np.nan)[b]
sg = np.ma.filled(d["curve_stage"][:], np.nan)[b]
Rc = np.ma.filled(d["R_curve"][:], np.nan)[b]
# 100 examples, batch 32: 4 steps per stage; points at 0, then 2 and 4 in each stage
assert list(st[:11]) == [0] + [2, 4] * 5 and np.isnan(st[11:]).all(), st
for s in range(5):
    assert np.array_equal(Rc[2 + 2 * s].astype(np.float32), R[b][s]), (s, Rc[2 + 2 * s], R[b][s])
o = model.index("old")
assert np.isnan(np.ma.filled(d["curve_step"][:], np.nan)[o]).all()
print("plugin curve ok")
PYEOF
check "ABI-2 plugin: R unchanged by the curve, a point every 2 SGD steps, stage ends equal R" test $? -eq 0
sed -i 's/^  l2mlp.eval.every: \[0, 2\]/  eval.every: [0, 2]/' "$TMP/pl/s.yaml"
"$CLSWEEP" expand "$TMP/pl/s.yaml" > "$TMP/pl/e.out" 2>&1
check "eval.every with an ABI-1 plugin: refused at the key, naming the plugin" \
    grep -q "s.yaml:6:3: eval.every 2 applies to old, which records no anytime curve" "$TMP/pl/e.out"
finish
