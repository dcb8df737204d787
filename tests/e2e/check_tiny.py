"""check_tiny.py FILE.nc: the tiny sweep's file, read through xarray, has the documented
schema and values consistent with the run definitions."""
import sys

import numpy as np
import xarray as xr

ds = xr.open_dataset(sys.argv[1])
errors = []


def expect(cond, msg):
    if not cond:
        errors.append(msg)


expect(ds.sizes["run"] == 12, f"12 runs expected, got {ds.sizes['run']}")
expect(ds.sizes["stage"] == 4 and ds.sizes["task"] == 2, f"stage x task = 4 x 2, got {dict(ds.sizes)}")
models = [str(m) for m in ds["model"].values]
expect(models.count("finetune") == 4 and models.count("ewc") == 8, f"model counts {models}")
expect(all(str(s) == "ok" for s in ds["status"].values), f"statuses {ds['status'].values}")
R = ds["R"].values
expect(np.isfinite(R).all(), "R has non-finite cells")
acc = ds["acc"].values
expect(np.allclose(acc, R[:, -1, :].mean(axis=1), rtol=1e-5), "acc != mean of the last row")
lam = ds["ewc__lambda"].values
for m, l in zip(models, lam):
    if m == "finetune":
        expect(np.isnan(l), "finetune does not read ewc.lambda: NaN expected")
    else:
        expect(l in (10.0, 100.0), f"ewc.lambda {l}")
expect(set(ds["train__lr"].values.tolist()) == {0.01, 0.05}, "train.lr axis values")
expect(set(ds["seed"].values.tolist()) == {0, 1}, "seeds")
expect("sweep_yaml" in ds.attrs and "teacher_student" in ds.attrs["sweep_yaml"], "sweep_yaml attribute")
expect(len(set(ds["run_id"].values.tolist())) == 12, "run ids unique")
for e in errors:
    print("check_tiny:", e)
sys.exit(1 if errors else 0)
