#!/usr/bin/env bash
# tools/compare_shipped.sh OLD_CLSWEEP NEW_CLSWEEP [WORKDIR] — runs every sweep in sweeps/ at a
# small size with both binaries and compares the result files with tests/e2e/nc_compare.py
# (dimensions, global attributes, every variable including the coordinates, its attributes
# and its values bit for bit; only wall_seconds' values are excluded). Exit 0 when every
# sweep gives the same file, 1 otherwise. For refactors that must not change results, e.g.
#   git -C /work/main archive 7bf7009 | tar -x -C /tmp/ref && make -C /tmp/ref -j2 build/clsweep
#   tools/compare_shipped.sh /tmp/ref/build/clsweep build/clsweep
#
# How each sweep is shrunk (the shrunken copies are written to WORKDIR/sweeps/, and both
# binaries run the same copy, so sweep_yaml and sweep_file agree):
#   - seeds: 1; every grid axis cut to its first 2 values; a zip cut to its first 2 entries;
#     exclude entries that no longer match any run of the cut grid dropped;
#   - MNIST/Fashion-MNIST benchmarks: train_per_task 100, test_per_task 100, block_size 1;
#   - teacher_student: zip block_size [10, 20] with blocks [4, 2], batch 20, test_size 100;
#   - curves3d: block_size 5, points 30;
#   - the weight-space analysis: samples_per_task 20.
# Needs the data sets (data/ and Fashion-MNIST) and Debian's python3 with PyYAML and netCDF4.
set -u
cd "$(dirname "$0")/.." || exit 2
OLD=${1:?usage: tools/compare_shipped.sh OLD_CLSWEEP NEW_CLSWEEP [WORKDIR]}
NEW=${2:?usage: tools/compare_shipped.sh OLD_CLSWEEP NEW_CLSWEEP [WORKDIR]}
WORK=${3:-$(mktemp -d /tmp/clsweep-compare.XXXXXX)}
PY=$(tools/find_python.sh) || { echo "compare_shipped: no python3 with xarray" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1
mkdir -p "$WORK/sweeps" "$WORK/old" "$WORK/new"
status=0
for src in sweeps/*.yaml; do
    name=$(basename "$src" .yaml)
    small=$WORK/sweeps/$name.yaml
    "$PY" - "$src" "$small" <<'EOF' || { echo "compare_shipped: cannot shrink $src"; status=1; continue; }
import itertools, sys, yaml
src, dst = sys.argv[1], sys.argv[2]
s = yaml.safe_load(open(src))
s["seeds"] = 1
b = s.setdefault("benchmark", {})
if b.get("name") in ("mnist_fashion", "split_mnist", "split_fashion", "permuted_mnist"):
    b.update(train_per_task=100, test_per_task=100, block_size=1)
elif b.get("name") == "teacher_student":
    b.update(batch=20, test_size=100)
    s["zip"] = [{"benchmark.block_size": [10, 20], "benchmark.blocks": [4, 2]}]
elif b.get("name") == "curves3d":
    b.update(block_size=5, points=30)
grid = s.get("grid") or {}
for k, v in grid.items():
    if isinstance(v, list):
        grid[k] = v[:2]
if "zip" in s and s["zip"] is not None:
    s["zip"] = [{k: v[:2] for k, v in z.items()} for z in s["zip"]]
def matches(e):
    return all(k not in grid or not isinstance(grid[k], list) or v in grid[k] for k, v in e.items())
if s.get("exclude"):
    s["exclude"] = [e for e in s["exclude"] if matches(e)]
    if not s["exclude"]:
        del s["exclude"]
d = s.setdefault("defaults", {}) or {}
if "analysis.samples_per_task" in d:
    d["analysis.samples_per_task"] = 20
yaml.safe_dump(s, open(dst, "w"), default_flow_style=None, sort_keys=False)
EOF
    for side in old new; do
        bin=$OLD; [ $side = new ] && bin=$NEW
        rm -f "$WORK/$side/$name.nc" "$WORK/$side/$name.nc.journal"
        t0=$(date +%s.%N)
        if ! nice "$bin" run "$small" --output "$WORK/$side/$name.nc" --quiet \
                >"$WORK/$side/$name.log" 2>&1; then
            echo "compare_shipped: $name: the $side binary failed (see $WORK/$side/$name.log)"
            status=1
        fi
        t1=$(date +%s.%N)
        secs=$(echo "$t1 - $t0" | bc)
        if [ "$side" = old ]; then secs_old=$secs; else secs_new=$secs; fi
    done
    runs=$("$PY" -c "import netCDF4,sys; print(len(netCDF4.Dataset(sys.argv[1]).dimensions['run']))" \
           "$WORK/new/$name.nc" 2>/dev/null || echo "?")
    if "$PY" tests/e2e/nc_compare.py "$WORK/old/$name.nc" "$WORK/new/$name.nc" --strict; then
        echo "compare_shipped: $name: $runs runs, identical (old ${secs_old}s, new ${secs_new}s)"
    else
        echo "compare_shipped: $name: DIFFERENT"
        status=1
    fi
done
echo "compare_shipped: files in $WORK"
exit $status
