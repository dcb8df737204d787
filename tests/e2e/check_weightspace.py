"""check_weightspace.py LABEL=FILE.nc=RANKS ...: files of the weightspace sweep
(tests/e2e/weightspace.yaml) carry the analysis extras, with the separation that
crashtest's synthetic matrix predicts, computed on grids of the allowed sizes RANKS
("1", "2" or "1,2"); every file after the first must hold the same analysis outputs as the
first (to 1e-9). Prints one "ok - LABEL ..." / "not ok - LABEL ..." line per file (one
Python start for all of them: importing xarray is slow on a loaded machine)."""
import sys

import numpy as np
import xarray as xr

WS = ["ws_separation", "ws_task_r2", "ws_explained", "ws_pc1", "ws_pc2", "ws_point_task",
      "ws_features", "ws_ranks"]
N, T, D = 400, 2, 4


def check(ds, ranks, ref, errors):
    def expect(cond, msg):
        if not cond:
            errors.append(msg)
    for v in WS:
        expect(v in ds, f"{v} missing")
    if errors:
        return
    models = [str(m) for m in ds["model"].values]
    when = [str(w) for w in ds["analysis__when"].values]
    expect(ds.sizes["run"] == 8, f"8 runs expected, got {ds.sizes['run']}")
    expect(all(str(s) == "ok" for s in ds["status"].values), f"statuses {ds['status'].values}")
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
            predict = (N * r2 * (T - 1) + (T - 1) * D) / ((N * T - T) * D)
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
    if ref is None:
        return
    a = {str(r): i for i, r in enumerate(ds["run_id"].values)}
    b = {str(r): i for i, r in enumerate(ref["run_id"].values)}
    expect(set(a) == set(b), "the two files hold different runs")
    for rid in set(a) & set(b):
        for v in ["ws_separation", "ws_task_r2", "ws_explained", "ws_pc1", "ws_pc2"]:
            x, y = ds[v].values[a[rid]], ref[v].values[b[rid]]
            ok = np.array_equal(np.isnan(x), np.isnan(y)) and np.allclose(
                x[~np.isnan(x)], y[~np.isnan(y)], rtol=1e-9, atol=1e-9)
            expect(ok, f"run {rid}: {v} differs from the first file")
        expect(np.array_equal(ds["R"].values[a[rid]], ref["R"].values[b[rid]], equal_nan=True),
               f"run {rid}: R differs")


failed = 0
ref = None
for arg in sys.argv[1:]:
    label, path, ranks = arg.split("=")
    errors = []
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as e:
        ds, errors = None, [f"cannot read {path}: {e}"]
    if ds is not None:
        check(ds, {int(v) for v in ranks.split(",")}, ref, errors)
        ref = ds if ref is None else ref
    print(f"{'not ok' if errors else 'ok'} - {label}")
    for e in errors[:10]:
        print("#   check_weightspace:", e)
    failed += bool(errors)
sys.exit(1 if failed else 0)
