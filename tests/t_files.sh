#!/usr/bin/env bash
# The file-defined benchmark end to end: Gaussian class blobs as 32×32×3 uint8 images (20
# classes, 4 tasks) written by numpy / xarray as .npy, gzip IDX and NetCDF; a sweep of
# finetune, ewc, ewgn and pah over them under mpirun -np 3; the three formats give the same
# runs; changed data changes the run ids; and Fashion-MNIST converted to .npy gives R
# bit-identical to the built-in split_fashion with the same subsets and seed.
source "$(dirname "$0")/e2e/lib.sh"
D=$TMP/data
mkdir -p "$D"
"$PY" - "$D" <<'PYEOF'
import gzip, struct, sys
import numpy as np, xarray as xr
d = sys.argv[1]
rng = np.random.default_rng(0)
K = 20
proto = rng.uniform(0, 255, (K, 32, 32, 3))
def make(n):
    y = rng.integers(0, K, n)
    x = np.clip(proto[y] * 0.5 + rng.normal(0, 40, (n, 32, 32, 3)) + 64, 0, 255).astype(np.uint8)
    return x, y.astype(np.int64)
for split, n in (("train", 800), ("test", 400)):
    x, y = make(n)
    np.save(f"{d}/{split}_x.npy", x)
    np.save(f"{d}/{split}_y.npy", y)
    # gzip IDX (uint8, big-endian dimensions)
    for name, a in ((f"{split}_x", x), (f"{split}_y", y.astype(np.uint8))):
        with gzip.open(f"{d}/{name}-idx.gz", "wb") as f:
            f.write(struct.pack(">BBBB", 0, 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape))
            f.write(a.tobytes())
    xr.Dataset({"x": (("n", "h", "w", "c"), x), "y": (("n",), y)}).to_netcdf(f"{d}/{split}.nc")
PYEOF
check "generated the data in three formats" test -s "$D/test.nc"

sweep() {  # sweep FILE TRAIN_X TRAIN_Y TEST_X TEST_Y MODELS
    cat >"$1" <<EOF
name: files-e2e
benchmark:
  name: files
  train: {x: $2, y: $3}
  test: {x: $4, y: $5}
  split: {classes_per_task: 5}
  scenario: task
  train_per_task: 60
  test_per_task: 40
  block_size: 5
models: $6
seeds: 2
defaults: {pah.batch_size: 8, pah.backbone_lr: 0.001}   # PAH defaults: 1 slow AdamW step per epoch here
options: {quiet: true}
EOF
}
sweep "$TMP/npy.yaml" data/train_x.npy data/train_y.npy data/test_x.npy data/test_y.npy "[finetune, ewc, ewgn, pah]"
timeout 900 $MPIRUN -np 3 "$CLSWEEP" run "$TMP/npy.yaml" --output "$TMP/npy.nc" 2>"$TMP/npy.err"
check "files sweep of finetune, ewc, ewgn, pah under mpirun -np 3 exits 0" test $? -eq 0
"$PY" - "$TMP/npy.nc" <<'PYEOF'
import sys, xarray as xr, numpy as np
ds = xr.open_dataset(sys.argv[1]).load()
st = {(str(m), int(s)): str(v) for m, s, v in zip(ds.model.values, ds.seed.values, ds.status.values)}
print("statuses:", st)
bad = [k for k, v in st.items() if v not in ("ok", "unsupported")]
R = ds.R.values
ok = len(st) == 8 and not bad and ds.sizes["task"] == 4
# finetune learns the blobs: the task just trained is well above chance (1/5)
ft = ds.where(ds.model == "finetune", drop=True)
diag = [float(ft.R.values[0, s, s]) for s in range(4)]
print("finetune R[s][s]:", diag)
ok = ok and sum(diag) / len(diag) > 0.35   # chance is 1/5 = 0.2 (60 examples per task, 5 epochs)
sys.exit(0 if ok else 1)
PYEOF
check "every model ran (ok or unsupported with a reason), finetune learns the blobs" test $? -eq 0
"$PY" - "$TMP/npy.nc" <<'PYEOF'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1]).load()
# pah takes 3×32×32 inputs (its channels follow the input): ok, never unsupported; it learns
ph = ds.where(ds.model == "pah", drop=True)
st = [str(v) for v in ph.status.values]
diag = [float(ph.R.values[0, s, s]) for s in range(4)]
print("pah statuses:", st, "seed-0 R[s][s]:", diag)
sys.exit(0 if st == ["ok", "ok"] and sum(diag) / 4 > 0.4 else 1)   # chance 0.2
PYEOF
check "pah runs ok on 3x32x32 images and learns the blobs (mean R[s][s] > 0.4, chance 0.2)" test $? -eq 0

# The same data as IDX and as NetCDF variables: the same runs, the same numbers.
sweep "$TMP/idx.yaml" data/train_x-idx.gz data/train_y-idx.gz data/test_x-idx.gz data/test_y-idx.gz "[finetune, ewc]"
sweep "$TMP/nc.yaml" data/train.nc:x data/train.nc:y data/test.nc:x data/test.nc:y "[finetune, ewc]"
sweep "$TMP/npy2.yaml" data/train_x.npy data/train_y.npy data/test_x.npy data/test_y.npy "[finetune, ewc]"
for f in idx nc npy2; do
    "$CLSWEEP" run "$TMP/$f.yaml" --output "$TMP/$f.nc" --quiet 2>"$TMP/$f.err" ||
        { cat "$TMP/$f.err"; notok "format $f sweep"; }
done
"$PY" - "$TMP/npy2.nc" "$TMP/idx.nc" "$TMP/nc.nc" <<'PYEOF'
import sys, numpy as np, xarray as xr
ref = xr.open_dataset(sys.argv[1]).load()
ok = True
for p in sys.argv[2:]:
    ds = xr.open_dataset(p).load()
    same = np.array_equal(ref.R.values, ds.R.values, equal_nan=True) and list(ref.status.values) == list(ds.status.values)
    print(p, "R equal:", same)
    ok = ok and same
sys.exit(0 if ok else 1)
PYEOF
check "IDX and NetCDF inputs give R bit-identical to .npy" test $? -eq 0

# Changed data, new run ids; the same data, the same ids.
"$CLSWEEP" expand "$TMP/npy2.yaml" | awk 'NF > 2 {print $1}' | sort >"$TMP/ids1"
"$CLSWEEP" expand "$TMP/npy2.yaml" | awk 'NF > 2 {print $1}' | sort >"$TMP/ids2"
"$PY" -c "import numpy as np, sys; y = np.load(sys.argv[1]); y[0] = (y[0] + 1) % 20; np.save(sys.argv[1], y)" "$D/test_y.npy"
"$CLSWEEP" expand "$TMP/npy2.yaml" | awk 'NF > 2 {print $1}' | sort >"$TMP/ids3"
check "expanding twice gives the same run ids" cmp -s "$TMP/ids1" "$TMP/ids2"
check "editing a data file changes every run id" test -z "$(comm -12 "$TMP/ids1" "$TMP/ids3")"

# Validation at expand time, located at the benchmark entry, nothing run.
sweep "$TMP/bad.yaml" data/train_x.npy data/test_y.npy data/test_x.npy data/test_y.npy "[finetune]"
out=$("$CLSWEEP" run "$TMP/bad.yaml" --output "$TMP/bad.nc" 2>&1)
rc=$?
echo "# $out"
check "x/y length mismatch: exit 2, located message naming the file" \
    bash -c "[ $rc -eq 2 ] && grep -q 'bad.yaml:3:3: benchmark files: .*test_y.npy: 400 labels for 800 inputs' <<<'$out' && [ ! -e '$TMP/bad.nc' ]"

# Fashion-MNIST converted to .npy = the built-in split_fashion, bit for bit.
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    "$PY" - "$FM" "$D" <<'PYEOF'
import gzip, os, sys, numpy as np
src, d = sys.argv[1], sys.argv[2]
def rd(f):
    b = gzip.open(os.path.join(src, f)).read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b[4 + 4 * nd:], dtype=np.uint8).reshape(dims)
for s, p in (("train", "train"), ("test", "t10k")):
    np.save(f"{d}/fm_{s}_x.npy", rd(f"{p}-images-idx3-ubyte.gz"))
    np.save(f"{d}/fm_{s}_y.npy", rd(f"{p}-labels-idx1-ubyte.gz").astype(np.int64))
PYEOF
    cat >"$TMP/fm_files.yaml" <<EOF
name: fm-files
benchmark:
  name: files
  train: {x: data/fm_train_x.npy, y: data/fm_train_y.npy}
  test: {x: data/fm_test_x.npy, y: data/fm_test_y.npy}
  train_per_task: 200
  test_per_task: 100
models: [finetune, ewc]
seeds: [3, 4]
options: {quiet: true}
EOF
    sed -e 's/name: fm-files/name: fm-builtin/' -e 's/name: files/name: split_fashion/' \
        -e '/train: {x/d' -e '/test: {x/d' "$TMP/fm_files.yaml" >"$TMP/fm_builtin.yaml"
    "$CLSWEEP" run "$TMP/fm_files.yaml" --output "$TMP/fm_files.nc" --quiet &&
        "$CLSWEEP" run "$TMP/fm_builtin.yaml" --output "$TMP/fm_builtin.nc" --quiet
    "$PY" - "$TMP/fm_files.nc" "$TMP/fm_builtin.nc" <<'PYEOF'
import sys, numpy as np, xarray as xr
a, b = (xr.open_dataset(p).load() for p in sys.argv[1:])
key = lambda ds: sorted(range(ds.sizes["run"]), key=lambda i: (str(ds.model.values[i]), int(ds.seed.values[i])))
ia, ib = key(a), key(b)
same = all(np.array_equal(a.R.values[i], b.R.values[j]) and np.array_equal(a.R0.values[i], b.R0.values[j]) for i, j in zip(ia, ib))
print("runs", len(ia), len(ib), "R bit-identical:", same)
sys.exit(0 if same and len(ia) == len(ib) == 4 else 1)
PYEOF
    check "Fashion-MNIST as .npy gives R bit-identical to built-in split_fashion" test $? -eq 0
else
    echo "ok - Fashion-MNIST as .npy vs split_fashion # SKIP Fashion-MNIST not at $FM (make deps)"
fi
finish
