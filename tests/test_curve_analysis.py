"""test_curve_analysis.py — the analysis side of issue 18's metrics: intransigence against
the joint run of the same sweep (analysis/clsweep_results.py, shown by aggregate), the
curve variables read back (R_curve, curve_stage, curve_step), and
analysis/plot_stability_gap (figure and gap table).

Builds one tiny class-incremental Split-MNIST sweep (finetune, er, joint; 2 seeds; a curve
every 2 steps) with `$CLSWEEP_BUILD/clsweep`; skips without MNIST.
Run with the Debian interpreter that can import xarray: /usr/bin/python3 -m pytest.
"""
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
import aggregate  # noqa: E402
import clsweep_results as cr  # noqa: E402
import plot_stability_gap  # noqa: E402
from cls_pytest import clsweep, require_data  # noqa: E402

SG_YAML = """\
name: sg-test
benchmark: {name: split_mnist, scenario: class, train_per_task: 200, test_per_task: 60}
models: [finetune, er, joint]
seeds: 2
defaults: {mlp.hidden: [32], eval.every: 2, eval.subset: 40}
output: results/sg-test.nc
"""


def run(yaml_text, path):
    path.with_suffix(".yaml").write_text(yaml_text)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([str(clsweep()), "run", str(path.with_suffix(".yaml")), "--output",
                        str(path), "--quiet"], capture_output=True, text=True, timeout=300,
                       env=env, cwd=REPO)
    if p.returncode != 0 and "make data" in p.stderr:
        pytest.skip("MNIST is not set up (make data)")
    assert p.returncode == 0, p.stderr
    return path


@pytest.fixture(scope="module")
def sg(tmp_path_factory):
    require_data("mnist")
    return run(SG_YAML, tmp_path_factory.mktemp("curve") / "sg.nc")


def test_intransigence_formula():
    R = np.array([[0.9, 0.1], [0.5, 0.6]])
    J = np.array([[0.95, 0.2], [0.7, 0.8]])
    assert cr.intransigence_of(R, J) == pytest.approx(((0.95 - 0.9) + (0.8 - 0.6)) / 2)
    assert cr.intransigence_of(R, J, higher_is_better=False) == pytest.approx(-0.125)
    assert cr.intransigence_of(R, R) == 0
    # blocked curriculum A B A: stage 2 trains task 0 again
    R3 = np.array([[0.9, 0.1], [0.5, 0.6], [0.8, 0.4]])
    J3 = np.array([[0.9, 0.1], [0.5, 0.9], [0.9, 0.4]])
    assert cr.intransigence_of(R3, J3) == pytest.approx((0 + 0.3 + 0.1) / 3)
    assert math.isnan(cr.intransigence_of(R, J3))
    assert math.isnan(cr.intransigence_of(None, J))


def test_intransigence_against_the_joint_run(sg):
    df = cr.load(sg)
    assert "intransigence" in df.columns
    ds = xr.open_dataset(sg)
    for i in range(ds.sizes["run"]):
        model, seed = str(ds["model"].values[i]), int(ds["seed"].values[i])
        j = [k for k in range(ds.sizes["run"])
             if str(ds["model"].values[k]) == "joint" and int(ds["seed"].values[k]) == seed]
        assert len(j) == 1
        R = ds["R"].values[i]
        Rj = ds["R"].values[j[0]]
        want = np.mean([Rj[s, s] - R[s, s] for s in range(R.shape[0])])
        got = float(df.loc[df["run_id"] == str(ds["run_id"].values[i]), "intransigence"].iloc[0])
        assert got == pytest.approx(want, abs=1e-6), (model, seed)
        if model == "joint":
            assert got == 0


def test_aggregate_reports_intransigence(sg, tmp_path):
    assert aggregate.main([str(sg), "-o", str(tmp_path / "s"), "-q"]) == 0
    rows = {r["model"]: r for r in csv.DictReader(open(tmp_path / "s.csv"))}
    assert float(rows["joint"]["intransigence_mean"]) == 0
    # class-IL: fine-tuning learns each new task at least as well as joint training does
    assert float(rows["finetune"]["intransigence_mean"]) < 0
    for m in ("anytime_acc", "lca", "stability_gap", "gap_recovery"):
        assert math.isfinite(float(rows["er"][f"{m}_mean"])), m
    md = (tmp_path / "s.md").read_text()
    assert "intransigence" in md and "curve_step" not in md


def test_no_joint_no_intransigence(tmp_path):
    require_data("mnist")
    f = run(SG_YAML.replace("[finetune, er, joint]", "[finetune]"), tmp_path / "nj.nc")
    assert "intransigence" not in cr.load(f).columns


def test_curve_read_back(sg):
    runs = cr.Runs([str(sg)])
    try:
        row = runs.table.iloc[0]
        Rc, st, sp = (runs.array(row, n) for n in ("R_curve", "curve_stage", "curve_step"))
        assert Rc.shape[1] == 5 and st.shape == sp.shape == (Rc.shape[0],)
        # 200 examples / batch 32 = 7 steps: points 0 | 2 4 6 7 per stage
        assert list(sp[:5]) == [0, 2, 4, 6, 7] and list(st[:6]) == [0, 0, 0, 0, 0, 1]
        assert cr.is_bookkeeping("curve_step") and "R_curve" in runs.arrays
    finally:
        runs.close()


def test_plot_stability_gap(sg, tmp_path, capsys):
    out, table = tmp_path / "sg.svg", tmp_path / "sg.md"
    assert plot_stability_gap.main([str(sg), "-o", str(out), "--table", str(table)]) == 0
    svg = out.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    text = table.read_text()
    for m in ("finetune", "er", "joint"):
        assert f"| {m} | 2 |" in text
    # finetune forgets task 1 as soon as task 2 is trained: a large gap, no recovery
    line = next(l for l in text.splitlines() if l.startswith("| finetune"))
    assert float(line.split("|")[3].split("±")[0]) > 0.2
    # the same figure twice: byte-identical (no date, fixed ids)
    out2 = tmp_path / "sg2.svg"
    assert plot_stability_gap.main([str(sg), "-o", str(out2)]) == 0
    assert out2.read_bytes() == out.read_bytes()


def test_plot_stability_gap_errors(tmp_path, capsys):
    require_data("mnist")
    f = run(SG_YAML.replace("eval.every: 2", "eval.every: 0"), tmp_path / "nc.nc")
    assert plot_stability_gap.main([str(f), "-o", str(tmp_path / "x.svg")]) == 2
    assert "no anytime curve" in capsys.readouterr().err
    assert plot_stability_gap.main([str(f), "--select", "nokey"]) == 2
