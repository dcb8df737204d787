#!/usr/bin/env bash
# tools/vandeven_ref.sh — runs van de Ven et al.'s reference implementation of "Three types of
# incremental learning" (GMvandeVen/continual-learning at e6d795a; not part of clsweep, not
# copied into it) on clsweep's own MNIST split, for docs/results/baselines.md.
#
#   tools/vandeven_ref.sh WORKDIR SCENARIO METHOD SEED [ITERS]
#     SCENARIO  task | class
#     METHOD    none | joint | ewc | si | lwf | er | agem
#               (joint = their --cummulative: all data so far at each context, clsweep's joint)
#     ITERS     iterations of batch 128 per context (default 133 = clsweep's 10 epochs)
#   prints one line: SCENARIO METHOD SEED ITERS ACC WALL_SECONDS
#   and leaves in WORKDIR/results/SCENARIO-METHOD-SEED-ITERS/: log.txt, summary.txt (that line),
#   cpu.txt ("WALL USER SYS" seconds of the python process and its children, /usr/bin/time) and
#   R.txt (their accuracy on every context after each context: row i = after context i, the
#   contexts not yet trained 0, from the results dict that their --results-dict writes).
#
# The code comes from the local mirror (fetch it with the session's fetch tool, or set
# VDV_GIT to a clone's .git); it runs with Debian's python3-torch / python3-torchvision
# (tools/deps.sh --bench) and python3-tqdm, on one CPU thread, offline: clsweep's data/mnist/*.gz
# are gunzipped into torchvision's MNIST/raw layout, so both sides see the same 8,495 / 1,505
# digits. Their own hyper-parameters (param_values.py) apply; only --iters changes the budget.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,17p "$0" >&2; exit 2; }
W=$1 SCEN=$2 METHOD=$3 SEED=$4 ITERS=${5:-133}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VDV_GIT=${VDV_GIT:-/work/.mirror/GMvandeVen+continual-learning/repo}
VDV_COMMIT=${VDV_COMMIT:-e6d795a}
PY=/usr/bin/python3
case $SCEN in task | class) ;; *) echo "scenario: task or class" >&2; exit 2 ;; esac
case $METHOD in
    none) FLAGS=() ;;
    joint) FLAGS=(--cummulative) ;;
    ewc) FLAGS=(--ewc) ;;
    si) FLAGS=(--si) ;;
    lwf) FLAGS=(--lwf) ;;
    er) FLAGS=(--replay=buffer) ;;
    agem) FLAGS=(--agem) ;;
    *) echo "method: none joint ewc si lwf er agem" >&2; exit 2 ;;
esac
[[ $SEED =~ ^[0-9]+$ && $ITERS =~ ^[0-9]+$ ]] || { echo "seed and iters: integers" >&2; exit 2; }
mkdir -p "$W"
if [ ! -f "$W/code/main.py" ]; then
    rm -rf "$W/code.tmp" && mkdir -p "$W/code.tmp"
    git --git-dir="$VDV_GIT" archive "$VDV_COMMIT" | tar -x -C "$W/code.tmp"
    mv "$W/code.tmp" "$W/code"
fi
RAW=$W/datasets/MNIST/MNIST/raw
if [ ! -f "$RAW/t10k-labels-idx1-ubyte" ]; then
    mkdir -p "$RAW"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte; do
        gunzip -c "$ROOT/data/mnist/$f.gz" >"$RAW/$f.tmp" && mv "$RAW/$f.tmp" "$RAW/$f"
    done
fi
R=$W/results/$SCEN-$METHOD-$SEED-$ITERS
mkdir -p "$R"
LOG=$R/log.txt
t0=$(date +%s.%N)
(cd "$W/code" && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    /usr/bin/time -o "$R/cpu.txt" -f "%e %U %S" "$PY" main.py --experiment=splitMNIST --scenario="$SCEN" --iters="$ITERS" --seed="$SEED" \
    --no-gpus --no-save --data-dir="$W/datasets" --results-dir="$R" --model-dir="$R" \
    --plot-dir="$R" --results-dict "${FLAGS[@]}" >"$LOG" 2>&1) || { echo "failed: see $LOG" >&2; exit 1; }
t1=$(date +%s.%N)
acc=$(cat "$R"/acc-*.txt)
# R from their pickled plotting dict: 'acc per context' -> 'context j' -> [acc after each context]
"$PY" - "$R" >"$R/R.txt.tmp" <<'PYEOF'
import glob, pickle, sys
d = pickle.load(open(glob.glob(sys.argv[1] + "/dict-*.pkl")[0], "rb"))
cols = [d["acc per context"]["context %d" % (j + 1)] for j in range(len(d["acc per context"]))]
for i in range(len(cols[0])):
    print(" ".join("%.4f" % c[i] for c in cols))
PYEOF
mv "$R/R.txt.tmp" "$R/R.txt"
echo "$SCEN $METHOD $SEED $ITERS $acc $(echo "$t1 - $t0" | bc)" | tee "$R/summary.txt"
