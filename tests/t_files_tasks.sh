#!/usr/bin/env bash
# Per-task file lists of the files benchmark, end to end, and an external program on a files
# benchmark. Gaussian class blobs (8×8×3 uint8, 8 classes, 4 tasks) written by numpy both as
# one (x, y) pair per split and as per-task files with local labels (0, 1 in every task, in a
# subdirectory: paths relative to the sweep file). Under mpirun -np 3 a sweep of finetune, ewc
# and a stdlib-only Python program (tests/e2e/ext/files_stream.py, which checks that its stream
# holds the files' shapes, classes and every example with its label) completes, the program's
# R lands in the NetCDF file, and the built-in models' R equals the class-split form bit for
# bit. Bad per-task declarations are errors located in the sweep file, with nothing run.
source "$(dirname "$0")/e2e/lib.sh"
export CLSWEEP_STREAM_CACHE=$TMP/streams
D=$TMP/sw/data
mkdir -p "$D/tasks"
"$PY" - "$D" <<'PYEOF'
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
K = 8
proto = rng.uniform(0, 255, (K, 8, 8, 3))
for split, n in (("train", 400), ("test", 200)):
    y = rng.integers(0, K, n)
    x = np.clip(proto[y] * 0.6 + rng.normal(0, 30, (n, 8, 8, 3)) + 50, 0, 255).astype(np.uint8)
    np.save(f"{d}/{split}_x.npy", x)
    np.save(f"{d}/{split}_y.npy", y.astype(np.int64))
    for t in range(4):   # task t: classes 2t, 2t+1, in dataset order, local labels 0/1
        sel = (y // 2) == t
        np.save(f"{d}/tasks/{split}{t}_x.npy", x[sel])
        np.save(f"{d}/tasks/{split}{t}_y.npy", (y[sel] - 2 * t).astype(np.int64))
    bad = (y[(y // 2) == 1] - 2).astype(np.int64)
    bad[3] = 2   # not a class of task 1
    np.save(f"{d}/tasks/{split}1_bad_y.npy", bad)
PYEOF
check "generated the data as one pair and as per-task files" test -s "$D/tasks/test3_y.npy"

lst() {  # lst SPLIT X|Y → [data/tasks/SPLIT0_x.npy, ...]
    echo "[data/tasks/${1}0_$2.npy, data/tasks/${1}1_$2.npy, data/tasks/${1}2_$2.npy, data/tasks/${1}3_$2.npy]"
}
sweep() {  # sweep FILE MODELS TRAIN TEST [EXTRA BENCHMARK LINE]
    cat >"$1" <<EOF
name: files-tasks
benchmark:
  name: files
  train: $3
  test: $4
  scenario: task
  train_per_task: 40
  test_per_task: 20
  block_size: 3
  ${5:-}
programs:
  ncm:
    command: [python3, $PWD/tests/e2e/ext/files_stream.py]
    kinds: [classification]
    params:
      ncm.hwc: {type: str, default: 8x8x3}
models: $2
seeds: 2
options: {quiet: true}
EOF
}
sweep "$TMP/sw/tasks.yaml" "[finetune, ewc, ncm]" "{x: $(lst train x), y: $(lst train y)}" \
    "{x: $(lst test x), y: $(lst test y)}" "task_labels: local"
sweep "$TMP/sw/split.yaml" "[finetune, ewc]" "{x: data/train_x.npy, y: data/train_y.npy}" \
    "{x: data/test_x.npy, y: data/test_y.npy}"
(cd / && timeout 600 $MPIRUN -np 3 "$CLSWEEP" run "$TMP/sw/tasks.yaml" --output "$TMP/tasks.nc" \
    2>"$TMP/tasks.err")
check "per-task files: finetune, ewc and an external program under mpirun -np 3 exit 0" test $? -eq 0
(cd / && "$CLSWEEP" run "$TMP/sw/split.yaml" --output "$TMP/split.nc" 2>"$TMP/split.err")
check "the class-split form runs" test $? -eq 0
"$PY" - "$TMP/tasks.nc" "$TMP/split.nc" <<'PYEOF'
import sys, numpy as np, xarray as xr
a, b = (xr.open_dataset(p).load() for p in sys.argv[1:])
st = {(str(m), int(s)): (str(v), str(g)) for m, s, v, g in
      zip(a.model.values, a.seed.values, a.status.values, a.message.values)}
print("statuses:", st)
ok = len(st) == 6 and all(v[0] == "ok" for v in st.values()) and a.sizes["task"] == 4
# the program checked its stream (shapes, classes, every example and label in the task's files)
ncm = [i for i in range(a.sizes["run"]) if str(a.model.values[i]) == "ncm"]
ok = ok and all(float(a.ext_stream_ok.values[i]) == 1 for i in ncm)
# its R rows are in the file; nearest class mean learns each task (chance 1/2)
for i in ncm:
    R = a.R.values[i]
    print("ncm R:", R.tolist())
    ok = ok and np.isfinite(R).all() and min(R[s][s] for s in range(4)) > 0.8
    ok = ok and abs(float(a.acc.values[i]) - R[-1].mean()) < 1e-9
sys.exit(0 if ok else 1)
PYEOF
check "every run ok; the program saw the files' stream and its R is stored" test $? -eq 0
"$PY" - "$TMP/tasks.nc" "$TMP/split.nc" <<'PYEOF'
import sys, numpy as np, xarray as xr
a, b = (xr.open_dataset(p).load() for p in sys.argv[1:])
def runs(ds):
    return {(str(m), int(s)): i for i, (m, s) in enumerate(zip(ds.model.values, ds.seed.values))
            if str(m) != "ncm"}
ra, rb = runs(a), runs(b)
same = ra.keys() == rb.keys() and all(
    np.array_equal(a.R.values[ra[k]], b.R.values[rb[k]]) and
    np.array_equal(a.R0.values[ra[k]], b.R0.values[rb[k]]) for k in ra)
print("runs", sorted(ra), "R bit-identical:", same)
sys.exit(0 if same and len(ra) == 4 else 1)
PYEOF
check "per-task files with local labels give R bit-identical to the class split" test $? -eq 0
"$CLSWEEP" expand "$TMP/sw/tasks.yaml" 2>/dev/null | awk 'NF > 2 {print $1}' | sort >"$TMP/ids1"
(cd "$TMP/sw" && "$CLSWEEP" expand tasks.yaml 2>/dev/null) | awk 'NF > 2 {print $1}' | sort >"$TMP/ids0"
check "run ids do not depend on the working directory (paths resolved before defaults)" \
    cmp -s "$TMP/ids0" "$TMP/ids1"
"$PY" -c "import numpy as np, sys; y = np.load(sys.argv[1]); y[0] = 1 - y[0]; np.save(sys.argv[1], y)" \
    "$D/tasks/test2_y.npy"
"$CLSWEEP" expand "$TMP/sw/tasks.yaml" 2>/dev/null | awk 'NF > 2 {print $1}' | sort >"$TMP/ids2"
check "editing one per-task file changes every run id" \
    bash -c "[ -s '$TMP/ids1' ] && [ -z \"\$(comm -12 '$TMP/ids1' '$TMP/ids2')\" ]"

# Bad per-task declarations: exit 2, located at the benchmark entry, naming what is wrong.
bad() {  # bad NAME NEEDLE TRAIN TEST [EXTRA]
    sweep "$TMP/sw/bad.yaml" "[finetune]" "$3" "$4" "${5:-}"
    local out rc
    out=$("$CLSWEEP" run "$TMP/sw/bad.yaml" --output "$TMP/bad.nc" 2>&1)
    rc=$?
    echo "# $out"
    if [ $rc -eq 2 ] && grep -q "bad.yaml:3:3: benchmark files: .*$2" <<<"$out" && [ ! -e "$TMP/bad.nc" ]
    then ok "$1"; else notok "$1"; fi
}
short="[data/tasks/train0_y.npy, data/tasks/train1_y.npy]"
bad "lists of different lengths" "benchmark.train.y lists 2 files but benchmark.train.x 4" \
    "{x: $(lst train x), y: $short}" "{x: $(lst test x), y: $(lst test y)}"
bad "a list next to one file" "benchmark.test.x is one file but benchmark.train.x a list" \
    "{x: $(lst train x), y: $(lst train y)}" "{x: data/test_x.npy, y: $(lst test y)}"
bad "a missing per-task file" "tasks/nope.npy: no such file" \
    "{x: [data/tasks/train0_x.npy, data/tasks/nope.npy, data/tasks/train2_x.npy, data/tasks/train3_x.npy], y: $(lst train y)}" \
    "{x: $(lst test x), y: $(lst test y)}"
bad "a class split given with per-task files" "benchmark.split does not apply to per-task files" \
    "{x: $(lst train x), y: $(lst train y)}" "{x: $(lst test x), y: $(lst test y)}" \
    "split: {classes_per_task: 4}"
bad "a test label that is not a class of the task's training file" \
    "test1_bad_y.npy: label 2 at index 3 is not a class of task 1's training file" \
    "{x: $(lst train x), y: $(lst train y)}" \
    "{x: $(lst test x), y: [data/tasks/test0_y.npy, data/tasks/test1_bad_y.npy, data/tasks/test2_y.npy, data/tasks/test3_y.npy]}" \
    "task_labels: local"
finish
