"""test_analysis.py — analysis/aggregate and analysis/plot on real sweep files.

Builds small sweep files by running `$CLSWEEP_BUILD/clsweep` (default build/, relative to
the repository root) on tests/e2e/tiny.yaml, tests/e2e/diverge.yaml and two tiny sweeps
written here (the gated model's regime axes; a classification stream, which has
retention). Checks the summary tables against statistics computed directly with xarray,
that the figures are valid PNGs, and the errors for files that are not clsweep results.

Run with the Debian interpreter that can import xarray: /usr/bin/python3 -m pytest.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
import aggregate  # noqa: E402
import clsweep_results  # noqa: E402
import plot  # noqa: E402
from cls_pytest import clsweep, require_data  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METRICS = ["acc", "bwt", "fwt", "forgetting"]
# The extras every run stores (src/core/metrics.c), after the four above, in name order.
RUN_EXTRAS = ["bwt_plus", "plasticity", "rem"]

GATED_YAML = """\
name: gated-regime-test
benchmark: {name: teacher_student, blocks: 4, batch: 50, test_size: 200}
models: [gated]
seeds: 2
grid:
  gated.tau_ratio: [1, 43.3333333]
  benchmark.block_size: [50, 100]
output: results/gated-regime-test.nc
"""

CLS_YAML = """\
name: cls-test
benchmark: {name: split_mnist, scenario: task, train_per_task: 100, test_per_task: 50, block_size: 1}
models: [finetune]
seeds: 2
defaults: {mlp.hidden: [16]}
grid:
  train.lr: [0.05, 0.1]
output: results/cls-test.nc
"""


def run_sweep(yaml_path, out):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([str(clsweep()), "run", str(yaml_path), "--output", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    return d


@pytest.fixture(scope="module")
def tiny(files):
    return run_sweep(REPO / "tests/e2e/tiny.yaml", files / "tiny.nc")


@pytest.fixture(scope="module")
def diverge(files):
    return run_sweep(REPO / "tests/e2e/diverge.yaml", files / "diverge.nc")


@pytest.fixture(scope="module")
def gated(files):
    p = subprocess.run([str(clsweep()), "params", "gated"], capture_output=True, text=True)
    if "gated.tau_ratio" not in p.stdout:
        pytest.skip("the gated model is not in this build")
    y = files / "gated.yaml"
    y.write_text(GATED_YAML)
    return run_sweep(y, files / "gated.nc")


@pytest.fixture(scope="module")
def classification(files):
    require_data("mnist")
    y = files / "cls.yaml"
    y.write_text(CLS_YAML)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = files / "cls.nc"
    proc = subprocess.run([str(clsweep()), "run", str(y), "--output", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    if proc.returncode != 0 and "make data" in proc.stderr:
        pytest.skip("MNIST is not set up (make data)")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def foreign(tmp_path):
    """A NetCDF file that is not a clsweep result, and a file that is not NetCDF."""
    nc = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}, attrs={"title": "something else"}).to_netcdf(nc)
    txt = tmp_path / "notes.nc"
    txt.write_text("this is not a NetCDF file\n")
    return nc, txt


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(s):
    return float("nan") if s == "" else float(s)


def expected_stats(path, select, metrics=METRICS):
    """mean/std (ddof 1) of each metric over the ok runs matching select, via xarray."""
    ds = xr.open_dataset(path)
    mask = np.ones(ds.sizes["run"], dtype=bool)
    for var, val in select.items():
        v = ds[var].values
        if val is None:
            mask &= np.isnan(v.astype(float))
        elif isinstance(val, str):
            mask &= v.astype(str) == val
        else:
            mask &= np.isclose(v.astype(float), val)
    mask &= ds["status"].values.astype(str) == "ok"
    out = {}
    for m in metrics:
        x = ds[m].values[mask]
        x = x[np.isfinite(x)]
        out[m] = (x.mean() if x.size else np.nan, x.std(ddof=1) if x.size > 1 else np.nan, x.size)
    ds.close()
    return out


def assert_close(actual, expected, what):
    if np.isnan(expected):
        assert np.isnan(actual), f"{what}: expected NaN, got {actual}"
    else:
        assert np.isclose(actual, expected, rtol=1e-12, atol=0), f"{what}: {actual} != {expected}"


# ---- aggregate ----

def test_aggregate_means_and_stds_match_xarray(tiny, tmp_path):
    assert aggregate.main([str(tiny), "-o", str(tmp_path / "s"), "-q"]) == 0
    rows = read_csv(tmp_path / "s.csv")
    assert len(rows) == 6, rows  # finetune x 2 lr, ewc x 2 lr x 2 lambda
    seen = set()
    for r in rows:
        assert r["benchmark"] == "teacher_student" and r["metric"] == "mse"
        assert r["seeds"] == "2" and r["n_runs"] == "2" and r["n_ok"] == "2"
        lam = None if r["ewc.lambda"] == "" else float(r["ewc.lambda"])
        assert (lam is None) == (r["model"] == "finetune")
        seen.add((r["model"], float(r["train.lr"]), lam))
        exp = expected_stats(tiny, {"model": r["model"], "train__lr": float(r["train.lr"]),
                                    "ewc__lambda": lam})
        for m in METRICS:
            mean, std, n = exp[m]
            assert n == 2
            assert_close(num(r[f"{m}_mean"]), mean, f"{r['model']} {m} mean")
            assert_close(num(r[f"{m}_sd"]), std, f"{r['model']} {m} sd")
            half = 12.706204736174698 * std / np.sqrt(2)  # t(0.975, 1) for 2 seeds
            assert np.isclose(num(r[f"{m}_ci95_hi"]) - num(r[f"{m}_ci95_lo"]), 2 * half,
                              rtol=1e-9), f"{m} CI"
    assert seen == {("finetune", 0.01, None), ("finetune", 0.05, None),
                    ("ewc", 0.01, 10.0), ("ewc", 0.01, 100.0), ("ewc", 0.05, 10.0),
                    ("ewc", 0.05, 100.0)}


def test_aggregate_markdown_table(tiny, tmp_path, capsys):
    assert aggregate.main([str(tiny), "--out", str(tmp_path / "t")]) == 0
    printed = capsys.readouterr().out
    md = (tmp_path / "t.md").read_text()
    assert printed.strip() == md.strip()
    assert "sd (sample, ddof 1)" in md  # the convention is labelled
    lines = [ln for ln in md.split("## Paired")[0].splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    # the swept keys and the recorded training-budget keys, between model and runs
    budget = ["benchmark.block_size", "train.batch_size", "train.momentum", "train.optimizer",
              "train.weight_decay"]
    nk = 2 + len(budget)
    assert head[0] == "model" and sorted(head[1:1 + nk]) == sorted(["ewc.lambda", "train.lr"] + budget), head
    assert head[1 + nk:] == ["runs"] + METRICS + RUN_EXTRAS, head
    assert len(lines) == 2 + 6
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    col = {h: i for i, h in enumerate(head)}
    exp = expected_stats(tiny, {"model": "ewc", "train__lr": 0.05, "ewc__lambda": 100.0})
    mean, std, _ = exp["acc"]
    row = [c for c in cells if c[0] == "ewc" and c[col["train.lr"]] == "0.05"
           and c[col["ewc.lambda"]] == "100"]
    assert len(row) == 1, lines
    assert row[0][col["runs"]] == "2/2 ok"
    m_txt, s_txt = row[0][col["acc"]].split(" ± ")
    dec = len(m_txt.split(".")[1])
    assert len(s_txt.split(".")[1]) == dec  # mean and sd with the same decimals
    assert abs(float(m_txt) - mean) <= 0.51 * 10 ** -dec and abs(float(s_txt) - std) <= 0.51 * 10 ** -dec
    # every acc cell of the column has the same number of decimals
    assert {len(c[col["acc"]].split(" ± ")[0].split(".")[1]) for c in cells} == {dec}
    ft = [c for c in cells if c[0] == "finetune"]
    assert len(ft) == 2 and all(c[col["ewc.lambda"]] == "–" for c in ft)  # not read by finetune


def test_aggregate_default_paths_next_to_the_input(tiny, tmp_path):
    src = tmp_path / "copy.nc"
    src.write_bytes(Path(tiny).read_bytes())
    assert aggregate.main([str(src), "-q"]) == 0
    assert (tmp_path / "copy.summary.csv").exists() and (tmp_path / "copy.summary.md").exists()


def test_aggregate_counts_statuses_and_uses_ok_runs_only(diverge, tmp_path):
    assert aggregate.main([str(diverge), "-o", str(tmp_path / "d"), "-q"]) == 0
    rows = {float(r["train.lr"]): r for r in read_csv(tmp_path / "d.csv")}
    bad, good = rows[1e6], rows[0.01]
    assert (bad["n_runs"], bad["n_ok"], bad["n_diverged"]) == ("1", "0", "1")
    assert bad["acc_mean"] == "" and bad["acc_sd"] == "" and bad["acc_n"] == "0"
    assert bad["messages"] != ""  # the reason is listed
    assert good["n_ok"] == "1" and good["acc_sd"] == ""  # one seed: no sd
    assert_close(num(good["acc_mean"]), expected_stats(diverge, {"train__lr": 0.01})["acc"][0], "acc")
    assert "0/1 ok, 1 diverged" in (tmp_path / "d.md").read_text()


def test_aggregate_paired_comparisons(tiny, diverge, tmp_path):
    import clsweep_stats as st
    assert aggregate.main([str(tiny), "-o", str(tmp_path / "p"), "-q", "--paired-metric",
                           "forgetting"]) == 0
    md = (tmp_path / "p.md").read_text()
    assert "## Paired comparisons on teacher_student: forgetting against finetune" in md
    assert "(lower forgetting is better)" in md
    body = md.split("## Paired")[1]
    rows = [ln for ln in body.splitlines() if ln.startswith("| ") and "configuration |" not in ln]
    assert len(rows) == 5  # 6 configurations − the reference
    # recompute one comparison from the tidy table: the reference is finetune's best
    # (lowest forgetting, mse metric) configuration
    df = clsweep_results.load(tiny)
    ok = df[df["status"] == "ok"]
    ft = ok[ok["model"] == "finetune"]
    best_lr = ft.groupby("train.lr")["forgetting"].mean().idxmin()
    ref = ft[ft["train.lr"] == best_lr]
    e = ok[(ok["model"] == "ewc") & (ok["train.lr"] == 0.05) & (ok["ewc.lambda"] == 100.0)]
    seeds, a, b = st.pair_by_seed(ref, e, "forgetting")
    assert seeds == [0, 1]
    p = st.Paired(a, b)
    # the configuration label lists the swept and the recorded training-budget keys
    row = [r for r in rows if r.startswith("| ewc (") and "ewc.lambda=100," in r.split("|")[1]
           and "train.lr=0.05" in r.split("|")[1]]
    assert len(row) == 1, rows
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert cells[1] == "2"
    assert abs(float(cells[4].split()[0]) - p.diff) < 1e-3
    # the diverged configuration is still in the paired table, with no shared seed
    assert aggregate.main([str(diverge), "-o", str(tmp_path / "d"), "-q"]) == 0
    dmd = (tmp_path / "d.md").read_text()
    assert "no shared ok seed (0/1 ok, 1 diverged)" in dmd


def test_aggregate_several_files_and_duplicates(tiny, diverge, tmp_path, capsys):
    assert aggregate.main([str(tiny), str(tiny), "-o", str(tmp_path / "dup"), "-q"]) == 0
    assert "counted once" in capsys.readouterr().err
    rows = read_csv(tmp_path / "dup.csv")
    assert len(rows) == 6 and all(r["n_runs"] == "2" for r in rows)
    assert aggregate.main([str(tiny), str(diverge), "-o", str(tmp_path / "two"), "-q"]) == 0
    rows = read_csv(tmp_path / "two.csv")
    # finetune lr=0.01 is in both sweeps with different settings: two configurations
    assert len(rows) == 8
    assert sum(int(r["n_runs"]) for r in rows) == 12 + 2
    assert {r["sweep"] for r in rows} == {"tiny", "diverge"}
    assert "| sweep | model |" in (tmp_path / "two.md").read_text()


def test_aggregate_over_an_axis(tiny, tmp_path):
    assert aggregate.main([str(tiny), "--over", "train.lr", "-o", str(tmp_path / "o"), "-q"]) == 0
    rows = read_csv(tmp_path / "o.csv")
    assert len(rows) == 3 and "train.lr" not in rows[0]
    r = [r for r in rows if r["model"] == "ewc" and r["ewc.lambda"] == "10.0"][0]
    assert r["n_runs"] == "4"
    exp = expected_stats(tiny, {"model": "ewc", "ewc__lambda": 10.0})
    assert_close(num(r["forgetting_mean"]), exp["forgetting"][0], "forgetting over lr")
    assert_close(num(r["forgetting_sd"]), exp["forgetting"][1], "forgetting sd over lr")


def test_aggregate_model_specific_metrics(gated, tmp_path):
    assert aggregate.main([str(gated), "-o", str(tmp_path / "g"), "-q"]) == 0
    rows = read_csv(tmp_path / "g.csv")
    assert len(rows) == 4
    ds = xr.open_dataset(gated)
    extras = [v for v in ds.data_vars if "clsweep_extra" in ds[v].attrs and ds[v].dims == ("run",)]
    ds.close()
    assert "specialisation" in extras
    # bookkeeping extras are not metrics: no columns for them
    assert not any(c.startswith(("ws_features", "ws_ranks")) for c in rows[0])
    extras = [m for m in extras if m not in clsweep_results.BOOKKEEPING]
    for r in rows:
        sel = {"gated__tau_ratio": float(r["gated.tau_ratio"]),
               "benchmark__block_size": float(r["benchmark.block_size"])}
        exp = expected_stats(gated, sel, metrics=extras)
        for m in extras:
            assert_close(num(r[f"{m}_mean"]), exp[m][0], f"{m} mean")
            assert_close(num(r[f"{m}_sd"]), exp[m][1], f"{m} sd")


def test_aggregate_retention_for_classification(classification, tiny, tmp_path):
    assert aggregate.main([str(classification), str(tiny), "-o", str(tmp_path / "c"), "-q"]) == 0
    rows = read_csv(tmp_path / "c.csv")
    cls_rows = [r for r in rows if r["benchmark"] == "split_mnist"]
    assert len(cls_rows) == 2 and all(r["metric"] == "accuracy" for r in cls_rows)
    for r in cls_rows:
        exp = expected_stats(classification, {"train__lr": float(r["train.lr"])},
                             metrics=["retention", "acc"])
        assert_close(num(r["retention_mean"]), exp["retention"][0], "retention")
    # regression runs have no retention; two benchmarks get a benchmark column
    assert all(r["retention_mean"] == "" for r in rows if r["benchmark"] == "teacher_student")
    assert "| benchmark | model |" in (tmp_path / "c.md").read_text()


def test_paired_direction_is_the_metrics_own(classification, tmp_path):
    """On an accuracy benchmark higher acc is better but LOWER forgetting is better: the
    reference is the baseline's lowest-forgetting configuration and the text says so."""
    assert aggregate.main([str(classification), "-o", str(tmp_path / "f"), "-q",
                           "--paired-metric", "forgetting"]) == 0
    md = (tmp_path / "f.md").read_text()
    assert "(lower forgetting is better)" in md
    rows = read_csv(tmp_path / "f.csv")
    best = min(rows, key=lambda r: num(r["forgetting_mean"]))
    head = [ln for ln in md.splitlines() if "forgetting against finetune (" in ln]
    assert head and f"train.lr={cr_fmt(best['train.lr'])}" in head[0], md
    assert aggregate.main([str(classification), "-o", str(tmp_path / "a"), "-q"]) == 0
    assert "(higher acc is better)" in (tmp_path / "a.md").read_text()


def cr_fmt(v):
    return clsweep_results.format_value(float(v))


def test_aggregate_bad_options(tiny, tmp_path, capsys):
    assert aggregate.main([str(tiny), "--metrics", "acc,nope", "-o", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err
    assert aggregate.main([str(tiny), "--over", "ewc.gamma", "-o", str(tmp_path / "x")]) == 2
    assert "not a swept key" in capsys.readouterr().err


# ---- plot ----

def assert_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, img.shape


def test_plot_heatmaps_and_ablations(tiny, tmp_path, capsys):
    out = tmp_path / "fig"
    assert plot.main([str(tiny), "-o", str(out)]) == 0
    listed = capsys.readouterr().out.split()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["R_teacher_student.png", "ablation_train.lr_teacher_student.png",
                            "ablation_ewc.lambda_teacher_student.png"]), names
    assert sorted(Path(p).name for p in listed) == names
    for p in out.iterdir():
        assert_png(p)


def test_plot_gated_regime_map_gates_and_curves(gated, tmp_path):
    out = tmp_path / "g"
    assert plot.main([str(gated), "-o", str(out), "--only", "regime", "--only", "gates",
                      "--only", "curves", "--only", "heatmap"]) == 0
    names = {p.name for p in out.iterdir()}
    for want in ("regime_gated_teacher_student.png", "gates_teacher_student.png",
                 "R_teacher_student.png", "R_adapted_teacher_student.png",
                 "curve_block_loss_teacher_student.png"):
        assert want in names, sorted(names)
    # switch_time −1 means "never": no figure of a flat line at the code (it is masked; a
    # curve is drawn only where some block switched)
    for p in out.iterdir():
        assert_png(p)


def test_plot_select_and_only(tiny, tmp_path, capsys):
    out = tmp_path / "sel"
    assert plot.main([str(tiny), "-o", str(out), "--select", "train.lr=0.01",
                      "--only", "heatmap"]) == 0
    assert [p.name for p in out.iterdir()] == ["R_teacher_student.png"]
    assert plot.main([str(tiny), "-o", str(out), "--select", "nokey=1"]) == 2
    assert "not a swept key" in capsys.readouterr().err
    assert plot.main([str(tiny), "-o", str(out), "--metric", "nope"]) == 2


# ---- errors and the command-line wrappers ----

@pytest.mark.parametrize("tool", [aggregate, plot])
def test_errors_for_files_that_are_not_clsweep_results(tool, foreign, tmp_path, capsys):
    nc, txt = foreign
    out = ["-o", str(tmp_path / "o")]
    assert tool.main([str(nc)] + out) == 2
    err = capsys.readouterr().err
    assert "not a clsweep result file" in err and "something else" in err
    assert tool.main([str(txt)] + out) == 2
    assert "not a readable NetCDF file" in capsys.readouterr().err
    assert tool.main([str(tmp_path / "missing.nc")] + out) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.csv").exists()


def test_wrappers_help_and_errors(foreign):
    nc, _ = foreign
    for tool in ("aggregate", "plot", "report", "results"):
        exe = REPO / "analysis" / tool
        assert os.access(exe, os.X_OK), f"{exe} is not executable"
        h = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
        assert h.returncode == 0 and "usage:" in h.stdout and "examples:" in h.stdout, h.stderr
    e = subprocess.run([str(REPO / "analysis/plot"), str(nc)], capture_output=True, text=True,
                       timeout=120)
    assert e.returncode == 2, e.stderr
    assert "not a clsweep result file" in e.stderr and "Traceback" not in e.stderr


def test_wrapper_moves_to_a_python_with_xarray(tiny, tmp_path):
    """Started with an interpreter that lacks xarray (e.g. a pyenv python3 on PATH), the
    script re-executes itself under the one tools/find_python.sh finds."""
    other = shutil.which("python3")
    if not other or subprocess.run([other, "-c", "import xarray"], capture_output=True).returncode == 0:
        pytest.skip("python3 on PATH can import xarray: nothing to move away from")
    env = dict(os.environ, CLSWEEP_PYTHON=other)
    p = subprocess.run([str(REPO / "analysis/aggregate"), str(tiny), "-q", "-o", str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert len(read_csv(tmp_path / "w.csv")) == 6


def test_runs_arrays_are_cut_to_the_run_shape(tiny):
    runs = clsweep_results.Runs([str(tiny)])
    try:
        row = runs.table.iloc[0]
        R = runs.array(row, "R")
        assert R.shape == (int(row["nstages"]), int(row["ntasks"])) == (4, 2)
        ds = xr.open_dataset(tiny)
        np.testing.assert_array_equal(R, ds["R"].values[0].astype(float))
        ds.close()
        ds = xr.open_dataset(tiny)
        in_file = [ds[v].attrs["key"] for v in ds.variables if "key" in ds[v].attrs]
        ds.close()
        # the swept keys, then the recorded training-budget keys (always stored)
        assert runs.axes == in_file and sorted(in_file) == sorted(
            ["ewc.lambda", "train.lr", "benchmark.block_size", "train.batch_size",
             "train.momentum", "train.optimizer", "train.weight_decay"])
        assert runs.metrics == METRICS + RUN_EXTRAS
    finally:
        runs.close()
