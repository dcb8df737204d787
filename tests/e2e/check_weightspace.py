"""check_weightspace.py FILE.nc [--ranks 1,2] [--like OTHER.nc]: the weightspace sweep's
file (tests/e2e/weightspace.yaml) carries the analysis extras, with the separation that
crashtest's synthetic matrix predicts; --ranks: the grid sizes allowed in ws_ranks;
--like: the analysis outputs equal those of another run of the same sweep (to 1e-9)."""
import sys

import numpy as np
import xarray as xr

args = sys.argv[1:]
path = args[0]
ranks = {1}
like = None
if "--ranks" in args:
    ranks = {int(v) for v in args[args.index("--ranks") + 1].split(",")}
if "--like" in args:
    like = args[args.index("--like") + 1]

ds = xr.open_dataset(path)
errors = []


def expect(cond, msg):
    if not cond:
        errors.append(msg)


WS = ["ws_separation", "ws_task_r2", "ws_explained", "ws_pc1", "ws_pc2", "ws_point_task",
      "ws_features", "ws_ranks"]
for v in WS:
    expect(v in ds, f"{v} missing")
if errors:
    print("\n".join("check_weightspace: " + e for e in errors))
    sys.exit(1)
models = [str(m) for m in ds["model"].values]
when = [str(w) for w in ds["analysis__when"].values]
expect(ds.sizes["run"] == 8, f"8 runs expected, got {ds.sizes['run']}")
expect(all(str(s) == "ok" for s in ds["status"].values), f"statuses {ds['status'].values}")
n, T, D = 400, 2, 4
for i, (m, w) in enumerate(zip(models, when)):
    sep = ds["ws_separation"].values[i]
    if m == "finetune" or w == "none":
        expect(np.isnan(sep).all() and np.isnan(ds["ws_ranks"].values[i]),
               f"run {i} ({m}, when={w}): no analysis expected, got {sep}")
        continue
    stages = [0, 1, 2, 3] if w == "stage" else [3]
    expect(np.isfinite(sep[stages]).all() and np.isnan(np.delete(sep, stages)).all(),
           f"run {i} (when={w}): separation {sep}")
    for s in stages:
        r2 = (s + 1.0) ** 2
        predict = (n * r2 * (T - 1) + (T - 1) * D) / ((n * T - T) * D)
        expect(abs(sep[s] - predict) < 0.3 * predict,
               f"run {i} stage {s}: separation {sep[s]:.4f}, predicted {predict:.4f}")
        ev = ds["ws_explained"].values[i, s]
        expect(abs(np.nansum(ev) - 1) < 1e-9 and np.isnan(ev[D:]).all(), f"explained {ev}")
        pc = ds["ws_pc1"].values[i, s]
        expect(np.isfinite(pc).all() and pc.size == 2 * 20, f"pc1 {pc}")
        r = ds["ws_task_r2"].values[i, s]
        expect(0 < r < 1, f"task r2 {r}")
    if w == "stage":
        expect((np.diff(sep) > 0).all(), f"run {i}: separation must grow by stage: {sep}")
    pt = ds["ws_point_task"].values[i]
    expect((pt[:20] == 0).all() and (pt[20:] == 1).all(), f"point tasks {pt}")
    expect(ds["ws_features"].values[i] == D, "ws_features")
    expect(int(ds["ws_ranks"].values[i]) in ranks,
           f"run {i}: ws_ranks {ds['ws_ranks'].values[i]} not in {ranks}")

if like:
    other = xr.open_dataset(like)
    a = {str(r): i for i, r in enumerate(ds["run_id"].values)}
    b = {str(r): i for i, r in enumerate(other["run_id"].values)}
    expect(set(a) == set(b), "the two files hold different runs")
    for rid in set(a) & set(b):
        for v in ["ws_separation", "ws_task_r2", "ws_explained", "ws_pc1", "ws_pc2"]:
            x, y = ds[v].values[a[rid]], other[v].values[b[rid]]
            ok = np.array_equal(np.isnan(x), np.isnan(y)) and np.allclose(
                x[~np.isnan(x)], y[~np.isnan(y)], rtol=1e-9, atol=1e-9)
            expect(ok, f"run {rid}: {v} differs from {like}")
        expect(np.array_equal(ds["R"].values[a[rid]], other["R"].values[b[rid]], equal_nan=True),
               f"run {rid}: R differs")

for e in errors:
    print("check_weightspace:", e)
sys.exit(1 if errors else 0)
