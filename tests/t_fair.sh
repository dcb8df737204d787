#!/usr/bin/env bash
# Fair by construction, through the command line (issue 16): expand prints resolved values
# and a budget table per model, warns on unequal data and on axes no model reads, --swept;
# a sweep of finetune, ewc and ewgn with defaults records resolved train.* values in the
# NetCDF file (one variable each, and the config string); the CLI guard rails (params of an
# unknown name, --set of another model's key, --progress over quiet: true, train.epochs);
# no shipped sweep is silent by default.
source "$(dirname "$0")/e2e/lib.sh"

# ---- expand: resolved values, budget table, equal examples ----
cat > "$TMP/three.yaml" <<'EOF'
name: three
benchmark: {name: permuted_mnist, tasks: 2, train_per_task: 60, test_per_task: 40}
models: [finetune, ewc, ewgn]
defaults: {ewc.fisher_samples: 20, ewgn.fisher_samples: 20, ewgn.hidden: 4, mlp.hidden: [16]}
EOF
"$CLSWEEP" expand "$TMP/three.yaml" > "$TMP/exp.out" 2> "$TMP/exp.err"
check "expand exits 0" test $? -eq 0
check "expand: no unresolved train.* value" \
    bash -c "! grep -Eq 'train\.(optimizer=auto|lr=0 |batch_size=0 |weight_decay=-1)' '$TMP/exp.out'"
check "expand: every run holds train.lr=0.05 train.batch_size=32" \
    test "$(grep -c 'train.batch_size=32 train.lr=0.05 .*train.optimizer=sgd' "$TMP/exp.out")" -eq 3
check "expand: a budget row per model, equal examples (60) and steps (2)" \
    test "$(grep -Ec '^  (finetune|ewc|ewgn) +sgd +0.05 +32 +60 +2 +1$' "$TMP/exp.err")" -eq 3
check "expand: no unequal-data warning" bash -c "! grep -q 'different data' '$TMP/exp.err'"

# an explicit model-scoped override is printed and warned about when examples differ
cat > "$TMP/unequal.yaml" <<'EOF'
benchmark: {name: teacher_student, blocks: 2, block_size: 10}
models: [finetune, ewc]
defaults: {ewc.train.batch_size: 20}
EOF
"$CLSWEEP" expand "$TMP/unequal.yaml" > /dev/null 2> "$TMP/uneq.err"
check "expand: override visible in the budget table" grep -Eq '^  ewc +sgd +0.05 +20 +200 +10 ' "$TMP/uneq.err"
check "expand: warning when models see different data per block" \
    grep -q 'warning: the models of this sweep see different data per block: ewc 200 examples, finetune 2000' "$TMP/uneq.err"

# an axis no model reads
cat > "$TMP/unread.yaml" <<'EOF'
benchmark: split_mnist
models: [finetune, ewc]
grid:
  ewgn.lambda: [1, 10]
EOF
"$CLSWEEP" expand "$TMP/unread.yaml" > /dev/null 2> "$TMP/unread.err"
check "expand: axis read by no model warns (exit 0)" test $? -eq 0
check "expand: the warning names key, models and place" \
    grep -q "unread.yaml:4:3: warning: swept key 'ewgn.lambda' is read by none of the models of this sweep (finetune, ewc)" "$TMP/unread.err"

# --swept: only the keys that vary, and runs per model
"$CLSWEEP" expand sweeps/quickstart.yaml --swept > "$TMP/swept.out" 2> "$TMP/swept.err"
check "expand --swept exits 0" test $? -eq 0
check "expand --swept: only varying keys" \
    bash -c "grep -q 'ewc .*ewc.lambda=100' '$TMP/swept.out' && ! grep -q 'train.lr' '$TMP/swept.out' && ! grep -q 'benchmark.' '$TMP/swept.out'"
check "expand --swept: 12 lines and runs per model" \
    bash -c "test \$(wc -l < '$TMP/swept.out') -eq 12 && grep -q 'runs per model: finetune 3 ewc 9' '$TMP/swept.err'"

# ---- a run: the NetCDF holds the resolved values ----
cat > "$TMP/tiny3.yaml" <<'EOF'
name: tiny3
benchmark: {name: teacher_student, blocks: 2, block_size: 20, batch: 10, test_size: 50}
models: [finetune, ewc, gated]
defaults: {mlp.hidden: [8], ewc.fisher_samples: 10, gated.adapt_steps: 2}
options: {quiet: true}
EOF
"$CLSWEEP" run "$TMP/tiny3.yaml" --output "$TMP/t3.nc" --progress 2> "$TMP/run.err"
check "run with --progress exits 0" test $? -eq 0
check "--progress prints progress despite quiet: true" grep -q 'runs' "$TMP/run.err"
"$CLSWEEP" run "$TMP/tiny3.yaml" --output "$TMP/t3q.nc" 2> "$TMP/runq.err"
check "quiet: true without --progress is silent" test ! -s "$TMP/runq.err"
"$PY" - "$TMP/t3.nc" <<'PYEOF'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1])
bad = []
for v, key in (("train__optimizer", "train.optimizer"), ("train__lr", "train.lr"),
               ("train__batch_size", "train.batch_size"),
               ("train__weight_decay", "train.weight_decay"), ("train__momentum", "train.momentum"),
               ("benchmark__block_size", "benchmark.block_size")):
    if v not in ds.variables or ds[v].attrs.get("key") != key:
        bad.append("missing variable " + v)
models = [str(m) for m in ds["model"].values]
for i, m in enumerate(models):
    cfg = str(ds["config"].values[i])
    if m == "gated":
        continue   # gated reads no train.* key: NaN / "" there
    if str(ds["train__optimizer"].values[i]) != "sgd" or float(ds["train__lr"].values[i]) != 0.05 \
            or float(ds["train__batch_size"].values[i]) != 10:
        bad.append(f"{m}: {ds['train__optimizer'].values[i]} {ds['train__lr'].values[i]} "
                   f"{ds['train__batch_size'].values[i]}")
    for unresolved in ("train.optimizer=auto", "train.lr=0 ", "train.batch_size=0 ",
                       "train.weight_decay=-1"):
        if unresolved in cfg + " ":
            bad.append(f"{m}: config holds {unresolved}")
    if "train.batch_size=10" not in cfg:
        bad.append(f"{m}: config {cfg}")
print("problems:", bad)
sys.exit(1 if bad else 0)
PYEOF
check "NetCDF: resolved train.* variables and config strings" test $? -eq 0

# ---- guard rails ----
"$CLSWEEP" params nosuch > /dev/null 2> "$TMP/p.err"
check "params of an unknown name exits 2" test $? -eq 2
check "params lists the valid names" \
    bash -c "grep -q 'unknown model or benchmark .nosuch.' '$TMP/p.err' && grep -q 'finetune' '$TMP/p.err' && grep -q 'split_mnist' '$TMP/p.err'"
"$CLSWEEP" params teacher_student > "$TMP/p.out"
check "params of a benchmark lists its keys" grep -q 'benchmark.contexts' "$TMP/p.out"
"$CLSWEEP" single --model finetune --benchmark split_mnist --set ewc.lambda=5 2> "$TMP/s.err"
check "single --set of another model's key exits 2" test $? -eq 2
check "single says 'not read by finetune'" grep -q 'ewc.lambda is not read by finetune' "$TMP/s.err"
check "single does not say 'unknown key'" bash -c "! grep -q 'unknown key' '$TMP/s.err'"
"$CLSWEEP" single --model finetune --benchmark teacher_student --set train.epochs=2 2> "$TMP/e.err"
check "train.epochs on teacher_student exits 2 naming benchmark.block_size" \
    bash -c "test $? -eq 2 && grep -q 'benchmark.block_size' '$TMP/e.err'"
"$CLSWEEP" single --model finetune --benchmark curves3d --set train.epochs=1 \
    --set benchmark.points=20 --set mlp.hidden=[4] > "$TMP/e.out" 2>&1
check "train.epochs on curves3d is benchmark.block_size" grep -q 'benchmark.block_size=1 ' "$TMP/e.out"
"$CLSWEEP" run "$TMP/tiny3.yaml" --quiet --progress > /dev/null 2>&1
check "--quiet with --progress exits 2" test $? -eq 2

# ---- a model-scoped swept key has one column, its runs' unscoped key, with the values ----
cat > "$TMP/scoped.yaml" <<EOF
name: scoped
benchmark: {name: teacher_student, blocks: 2, block_size: 5, test_size: 20}
models: [finetune, ewc]
defaults: {mlp.hidden: [4]}
grid:
  finetune.train.lr: [0.01, 0.1]
  ewc.train.lr: [0.02]
output: $TMP/scoped.nc
EOF
"$CLSWEEP" run "$TMP/scoped.yaml" --quiet > /dev/null 2>&1
check "scoped sweep exits 0" test $? -eq 0
check "finetune.train.lr and ewc.train.lr: one column train__lr holding each run's value" \
    "$PY" -c "
import sys, netCDF4
d = netCDF4.Dataset(sys.argv[1])
names = [v for v in d.variables if v.endswith('train__lr')]
assert names == ['train__lr'], names
assert d['train__lr'].key == 'train.lr'
got = sorted((str(m), float(x)) for m, x in zip(d['model'][:], d['train__lr'][:]))
assert got == [('ewc', 0.02), ('finetune', 0.01), ('finetune', 0.1)], got
" "$TMP/scoped.nc"

# ---- no shipped sweep is silent by default ----
check "no shipped sweep sets quiet: true" bash -c "! grep -Eq 'quiet: *(true|yes|on)' sweeps/*.yaml"
finish
