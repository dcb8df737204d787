#!/usr/bin/env bash
# The anytime curve (eval.every) of the models with their own training loops through the
# sweeper (tests/e2e/curve_models.yaml: ewgn and gated): a 2-rank MPI sweep SIGKILLed and
# resumed gives the file of one uninterrupted single-process sweep, R_curve included bit for
# bit; each run's curve points follow eval.every. And eval.every is never silently dropped:
# for an external program (as for a C plugin: both record no curve) it is a located error,
# while a model-scoped "finetune.eval.every" sets it for finetune alone.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT
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
sed -i 's/^grid:/defaults:/; s/^  eval.every: \[0, 3\]/  finetune.eval.every: 5/' "$TMP/x/p.yaml"
"$CLSWEEP" expand "$TMP/x/p.yaml" > "$TMP/p3.out" 2>&1
check "finetune.eval.every: accepted" test $? -eq 0
check "... finetune's run records a curve, the program's run has no eval.* key" \
    bash -c "grep -q 'eval.every=5 .*model=finetune' '$TMP/p3.out' && ! grep 'model=prior' '$TMP/p3.out' | grep -q eval"
finish
