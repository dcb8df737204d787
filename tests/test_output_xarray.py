"""test_output_xarray.py — the NetCDF sweep file as Python users see it.

Runs the C test helper (`$CLSWEEP_BUILD/tests/test_output --write-sample PATH`, default
build directory "build", relative to the repository root) to write a sample sweep file
with known values, then checks it with xarray and `ncdump -h`. The known values are those
of sample_sweep()/sample_results() in tests/test_output.c; keep the two in sync.

Run with the Debian interpreter that can import xarray: /usr/bin/python3 -m pytest.
"""
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

NAN = math.nan
REPO = Path(__file__).resolve().parent.parent

SAMPLE_YAML = "name: sample\nbenchmark: {name: split_mnist}\nmodels: [ewc, pah, finetune]\n"


def helper_path():
    build = Path(os.environ.get("CLSWEEP_BUILD", "build"))
    if not build.is_absolute():
        build = REPO / build
    exe = build / "tests" / "test_output"
    if not exe.exists():
        pytest.fail(f"{exe} not found: build it first (make), or set CLSWEEP_BUILD")
    return exe


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("xr") / "nested" / "sample.nc"
    proc = subprocess.run([str(helper_path()), "--write-sample", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids, configs = {}, {}
    for line in proc.stdout.splitlines():
        kind, k, value = line.split(" ", 2)
        (ids if kind == "run_id" else configs)[int(k)] = value
    assert sorted(ids) == [0, 1] and sorted(configs) == [0, 1], proc.stdout
    return path, ids, configs


@pytest.fixture(scope="module")
def ds(sample):
    d = xr.open_dataset(sample[0])
    yield d
    d.close()


def same(actual, expected):
    np.testing.assert_array_equal(np.asarray(actual, dtype=float),
                                  np.asarray(expected, dtype=float))


def test_dimensions(ds):
    assert dict(ds.sizes) == {"run": 2, "stage": 3, "task": 3, "path": 2, "block": 3}


def test_global_attributes(ds):
    a = ds.attrs
    assert a["title"] == "clsweep sweep results"
    assert a["Conventions"] == "CF-1.8"
    assert a["sweep_name"] == "sample"
    assert a["sweep_file"] == "sweeps/sample.yaml"
    assert a["sweep_yaml"] == SAMPLE_YAML
    assert a["clsweep_version"] == "0.1.0"
    assert int(a["n_runs_total"]) == 3
    assert int(a["n_runs_finished"]) == 2


def test_run_descriptors(ds, sample):
    _, ids, configs = sample
    assert list(ds["run_id"].values) == [ids[0], ids[1]]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids.values())
    assert list(ds["config"].values) == [configs[0], configs[1]]
    assert "ewc.lambda=100" in configs[0] and "seed=0" in configs[0]
    assert list(ds["model"].values) == ["ewc", "pah"]
    assert list(ds["benchmark"].values) == ["split_mnist", "split_mnist"]
    assert list(ds["seed"].values) == [0, 1]
    assert ds["seed"].dtype == np.int64  # seeds are unbounded non-negative integers
    assert list(ds["status"].values) == ["ok", "diverged"]
    assert list(ds["message"].values) == ["", "loss became NaN at stage 2"]
    assert list(ds["metric"].values) == ["accuracy", "accuracy"]
    assert list(ds["higher_is_better"].values) == [1, 1]
    assert list(ds["nstages"].values) == [2, 3]
    assert list(ds["ntasks"].values) == [2, 3]
    # descriptors and swept parameters open as coordinates
    for c in ("run_id", "model", "benchmark", "seed", "ewc__lambda", "train__lr",
              "pah__prototype_shape"):
        assert c in ds.coords, c


def test_matrices(ds):
    assert ds["R"].dims == ("run", "stage", "task")
    assert ds["R"].dtype == np.float32
    same(ds["R"].values, [
        [[0.75, 0.5, NAN], [0.625, 0.875, NAN], [NAN, NAN, NAN]],
        [[0.5, NAN, 0.25], [0.375, 0.5, NAN], [NAN, NAN, NAN]],
    ])
    assert ds["R0"].dims == ("run", "task")
    same(ds["R0"].values, [[0.125, 0.25, NAN], [0.0625, 0.125, NAN]])
    assert ds["R"].attrs["long_name"] == "metric on task after stage"
    assert "units" in ds["R"].attrs and "long_name" in ds["R0"].attrs
    assert math.isnan(ds["R"].encoding["_FillValue"])
    assert math.isnan(ds["R0"].encoding["_FillValue"])


def test_metrics(ds):
    same(ds["acc"].values, [0.75, NAN])
    same(ds["bwt"].values, [-0.125, NAN])
    same(ds["fwt"].values, [0.25, NAN])
    same(ds["forgetting"].values, [0.125, NAN])
    same(ds["wall_seconds"].values, [1.5, 2.25])
    for v in ("acc", "bwt", "fwt", "forgetting"):
        assert ds[v].dims == ("run",)
        assert ds[v].attrs["long_name"]
        assert "accuracy" in ds[v].attrs["direction"]
        assert "mse" in ds[v].attrs["direction"]
        assert math.isnan(ds[v].encoding["_FillValue"])
    assert "increase in loss" in ds["forgetting"].attrs["direction"]
    assert ds["status"].attrs["flag_values"] == "ok diverged failed unsupported pruned"
    assert ds["wall_seconds"].attrs["units"] == "s"


def test_swept_axes(ds):
    assert ds["ewc__lambda"].attrs["key"] == "ewc.lambda"
    assert ds["ewc__lambda"].dtype == np.float64
    same(ds["ewc__lambda"].values, [100, NAN])      # pah does not read ewc.lambda
    assert ds["train__lr"].attrs["key"] == "train.lr"
    same(ds["train__lr"].values, [0.01, 0.001])
    assert ds["pah__prototype_shape"].attrs["key"] == "pah.prototype_shape"
    assert list(ds["pah__prototype_shape"].values) == ["", "[10,10]"]


def test_extras(ds):
    assert ds["retention"].dims == ("run",)
    same(ds["retention"].values, [83.25, NAN])
    assert ds["retention"].attrs["clsweep_extra"] == "retention"
    assert ds["gates"].dims == ("run", "stage", "path")
    same(ds["gates"].values, [
        [[0.5, 0.25], [0.125, 1.0], [NAN, NAN]],
        [[NAN, NAN], [NAN, NAN], [NAN, NAN]],
    ])
    assert ds["gates"].attrs["long_name"] == "gate values at the end of each stage"
    assert ds["switch_time"].dims == ("run", "block")
    same(ds["switch_time"].values, [[10, 20, 30], [NAN, NAN, NAN]])
    assert math.isnan(ds["switch_time"].encoding["_FillValue"])


def test_select_by_axis(ds):
    # the point of coordinates: analysis by swept parameter and model
    assert float(ds["acc"].where(ds["model"] == "ewc", drop=True).values[0]) == 0.75
    assert ds.swap_dims(run="run_id")["wall_seconds"].sel(
        run_id=ds["run_id"].values[1]).item() == 2.25


def test_ncdump_header(sample):
    ncdump = shutil.which("ncdump")
    if ncdump is None:
        pytest.skip("ncdump not installed (netcdf-bin)")
    proc = subprocess.run([ncdump, "-h", str(sample[0])], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "float R(run, stage, task)" in out
    assert 'ewc__lambda:key = "ewc.lambda"' in out
    assert ':title = "clsweep sweep results"' in out
