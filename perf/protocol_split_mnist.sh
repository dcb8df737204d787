#!/usr/bin/env bash
# perf/protocol_split_mnist.sh — issue 21 measurement: the tuning protocol of
# sweeps/tune_protocol_split_mnist.yaml (EWC, SI, ER; Split-MNIST class-incremental, small)
# in one process: total CPU seconds (user + sys of clsweep and its run processes), the runs'
# own seconds per phase (wall of each run, one process: about its CPU), the configuration
# chosen per model with its tune mean and margin, and the phase-2 ACC per model as mean ±
# 95 % Student-t CI over the evaluation seeds. Nice it on a shared machine.
set -eu
cd "$(dirname "$0")/.."
PY=$(tools/find_python.sh)
OUT=$(mktemp -d /tmp/clsweep-protocol.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
/usr/bin/time -f "%U %S" -o "$OUT/time" build/clsweep run sweeps/tune_protocol_split_mnist.yaml \
    --output "$OUT/p.nc" 2>"$OUT/log"
grep "protocol:" "$OUT/log" | sed 's/; its first phase-1 run:.*//'
"$PY" - "$OUT" <<'PY'
import sys, math, re, netCDF4, numpy as np
from scipy import stats
out = sys.argv[1]
u, s = map(float, open(f"{out}/time").read().split()[-2:])
d = netCDF4.Dataset(f"{out}/p.nc")
phase = np.ma.filled(d["phase"][:].astype(float), np.nan)
wall = np.ma.filled(d["wall_seconds"][:].astype(float), np.nan)
acc = np.ma.filled(d["acc"][:].astype(float), np.nan)
model = [str(x) for x in d["model"][:]]
st = [str(x) for x in d["status"][:]]
cfg = [str(x) for x in d["config"][:]]
print(f"CPU seconds, whole sweep (user + sys): {u + s:.1f}")
for p in (1, 2):
    sel = phase == p
    print(f"phase {p}: {int(sel.sum())} runs, run seconds {np.nansum(wall[sel]):.1f}")
keys = {"ewc": "ewc.lambda", "si": "si.c", "er": "replay.buffer_size"}
for m, k in keys.items():
    idx = [i for i in range(len(st)) if model[i] == m and phase[i] == 2]
    c = dict(t.split("=", 1) for t in re.split(r" (?=[A-Za-z_][A-Za-z0-9_.]*=)", cfg[idx[0]]))
    x = np.array([acc[i] for i in idx if st[i] == "ok"])
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else float("nan")
    print(f"{m:4s} chosen train.lr={c.get('train.lr')} {k}={c.get(k)}: phase-2 ACC "
          f"{x.mean():.4f} ± {h:.4f} (n={len(x)}); tune mean {float(d['selection_mean'][idx[0]]):.4f}, "
          f"margin {float(d['selection_margin'][idx[0]]):.4f}")
PY
