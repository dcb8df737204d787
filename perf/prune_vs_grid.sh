#!/usr/bin/env bash
# [SAMPLES=N] perf/prune_vs_grid.sh [REPS] — issue 21 measurement: random search +
# asynchronous successive halving (ASHA; in one process arrivals follow the dispatch order,
# so it is reproducible) against the full grid of about the same stage budget, over ewc, si
# and er on Split-MNIST class-incremental (small: 1000 training / 500 test examples per task, one
# hidden layer of 100). Per repetition r (search seed and run seed r), each method runs
# in one process; CPU seconds (user + sys of clsweep and its run processes) and the best
# configuration of each model by final acc (ok runs) are printed, then mean ± 95 % t CI over
# the repetitions. Nice it on a shared machine.
set -eu
cd "$(dirname "$0")/.."
REPS=${1:-3}
SAMPLES=${SAMPLES:-18}   # random points per model (27 + 9 + 3 + 1 + 1 stages at 27 in theory)
PY=$(tools/find_python.sh)
OUT=$(mktemp -d /tmp/clsweep-prune-vs-grid.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
common() {  # common SEED
    cat <<YAML
benchmark: {name: split_mnist, scenario: class, train_per_task: 1000, test_per_task: 500}
models: [ewc, si, er]
seeds: [$1]
defaults: {mlp.hidden: [100]}
options: {quiet: true}
YAML
}
for r in $(seq 0 $((REPS - 1))); do
    { echo "name: grid$r"; common "$r"; cat <<'YAML'
grid:                               # 9 configurations per model, 5 stages each: 45 stages
  train.lr: [0.01, 0.05, 0.2]
  ewc.lambda: [10, 1000, 100000]
  si.c: [1, 100, 5000]
  replay.buffer_size: [100, 500, 2000]
YAML
    } >"$OUT/grid$r.yaml"
    { echo "name: halving$r"; common "$r"; cat <<YAML
search: {method: random, samples: $SAMPLES, seed: $r}
grid:
  train.lr: {loguniform: [0.005, 0.3]}
  ewc.lambda: {loguniform: [1, 1.0e6]}
  si.c: {loguniform: [0.1, 1.0e4]}
  replay.buffer_size: {randint: [50, 2000]}
prune: {metric: acc_seen, eta: 3, min_stages: 1, group_by: [model], synchronous: false}
YAML
    } >"$OUT/halving$r.yaml"
    for m in grid halving; do
        /usr/bin/time -f "%U %S" -o "$OUT/$m$r.time" build/clsweep run "$OUT/$m$r.yaml" \
            --output "$OUT/$m$r.nc" 2>>"$OUT/log"
    done
done
"$PY" - "$OUT" "$REPS" <<'PY'
import sys, math, netCDF4, numpy as np
from scipy import stats
out, reps = sys.argv[1], int(sys.argv[2])
keys = {"ewc": ["train__lr", "ewc__lambda"], "si": ["train__lr", "si__c"], "er": ["train__lr", "replay__buffer_size"]}
def ci(x):
    x = np.asarray(x, float)
    if len(x) < 2: return f"{x.mean():.4f}"
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return f"{x.mean():.4f} ± {h:.4f}"
res = {}
for m in ("grid", "halving"):
    for r in range(reps):
        u, s = map(float, open(f"{out}/{m}{r}.time").read().split()[-2:])
        d = netCDF4.Dataset(f"{out}/{m}{r}.nc")
        st = [str(x) for x in d["status"][:]]
        model = [str(x) for x in d["model"][:]]
        acc = np.ma.filled(d["acc"][:].astype(float), np.nan)
        res.setdefault((m, "cpu"), []).append(u + s)
        res.setdefault((m, "runs"), []).append(len(st))
        res.setdefault((m, "pruned"), []).append(st.count("pruned"))
        R = np.ma.filled(d["R"][:].astype(float), np.nan)   # (run, stage, task)
        res.setdefault((m, "stages"), []).append(int((~np.isnan(R).all(axis=2)).sum()))
        for mm, ks in keys.items():
            idx = [i for i in range(len(st)) if model[i] == mm and st[i] == "ok"]
            if not idx:
                print(f"rep {r} {m:8s} {mm:4s} no ok run: " + ", ".join(sorted(set(
                    f"{st[i]}: {d['message'][i]}" for i in range(len(st)) if model[i] == mm and st[i] != "pruned"))))
                res.setdefault((m, mm), []).append(float("nan"))
                continue
            b = max(idx, key=lambda i: acc[i])
            cfg = ", ".join(f"{k.split('__')[1]}={float(d[k][b]):.4g}" for k in ks)
            res.setdefault((m, mm), []).append(acc[b])
            print(f"rep {r} {m:8s} {mm:4s} best acc {acc[b]:.4f}  ({cfg})")
        d.close()
print()
for m in ("grid", "halving"):
    print(f"{m:8s} runs {res[(m,'runs')][0]}, pruned {ci(res[(m,'pruned')])}, stages trained "
          f"{ci(res[(m,'stages')])}, CPU s {ci(res[(m,'cpu')])}; "
          + "; ".join(f"best {mm} acc {ci(res[(m, mm)])}" for mm in keys))
PY
