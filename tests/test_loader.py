"""test_loader.py — the tidy loader (clsweep_results.load, analysis/results) and the
validity of pairing runs by seed.

- A Split-MNIST sweep where finetune, ewc and ewgn share train.lr and only ewc reads
  ewc.lambda, only ewgn ewgn.lambda: the "not read" cells are the NOT_READ sentinel, never
  NaN or a number; pandas groupby / set_index+unstack keep finetune in its own group (the
  pitfall of NaN keys: groupby drops them, unstack can file them under a real value).
- Pairing: runs with the same seed see the same data subset, task order and batch order.
  ewc with lambda 0 is the same learner as finetune, so with one seed their R matrices are
  equal; with another seed they differ (the check is not vacuous). Done on split_mnist and
  permuted_mnist (whose task order is the random permutations).
Run with the Debian interpreter: /usr/bin/python3 -m pytest tests/test_loader.py.
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
import clsweep_results as cr  # noqa: E402
from cls_pytest import clsweep  # noqa: E402

SHARED_YAML = """\
name: loader-shared
benchmark: {name: split_mnist, scenario: task, train_per_task: 40, test_per_task: 20, block_size: 1}
models: [finetune, ewc, ewgn]
seeds: 2
defaults: {mlp.hidden: [8], ewgn.hidden: 4, ewc.fisher_samples: 10, ewgn.fisher_samples: 10}
grid:
  train.lr: [0.01, 0.05]
  ewc.lambda: [10, 10000]
  ewgn.lambda: [10, 10000]
output: results/loader-shared.nc
"""

PAIR_YAML = """\
name: pairing-{bench}
benchmark: {{name: {bench}, {extra} train_per_task: 60, test_per_task: 40, block_size: 1}}
models: [finetune, ewc]
seeds: [3, 4]
defaults: {{mlp.hidden: [8], ewc.lambda: 0, ewc.fisher_samples: 10}}
output: results/pairing.nc
"""


def run_sweep(text, path):
    path.write_text(text)
    out = path.with_suffix(".nc")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([str(clsweep()), "run", str(path), "--output", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    if p.returncode != 0 and "make data" in p.stderr:
        pytest.skip("MNIST is not set up (make data)")
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return run_sweep(SHARED_YAML, tmp_path_factory.mktemp("loader") / "shared.yaml")


def test_one_row_per_run_with_every_status(shared):
    df = cr.load(shared)
    # finetune 2 lr, ewc 2 lr x 2 lambda, ewgn 2 lr x 2 lambda; x 2 seeds
    assert len(df) == 2 * (2 + 4 + 4)
    assert set(df["model"]) == {"finetune", "ewc", "ewgn"}
    assert set(df["status"]) <= set(cr.STATUSES)
    for col in ("run_id", "seed", "message", "acc", "forgetting", "train.lr", "ewc.lambda",
                "ewgn.lambda", "file", "sweep"):
        assert col in df.columns, col
    assert df["run_id"].is_unique


def test_not_read_is_a_sentinel_never_nan(shared):
    df = cr.load(shared)
    ft, ewc, ewgn = (df[df["model"] == m] for m in ("finetune", "ewc", "ewgn"))
    assert (ft["ewc.lambda"] == cr.NOT_READ).all() and (ft["ewgn.lambda"] == cr.NOT_READ).all()
    assert (ewgn["ewc.lambda"] == cr.NOT_READ).all() and (ewc["ewgn.lambda"] == cr.NOT_READ).all()
    assert sorted(set(ewc["ewc.lambda"])) == [10.0, 10000.0]
    assert all(isinstance(v, float) for v in df["train.lr"])  # read by all: plain numbers
    assert not any(isinstance(v, float) and math.isnan(v) for v in df["ewc.lambda"])
    assert list(cr.reads(df, "ewc.lambda")) == list(df["model"] == "ewc")
    num = cr.numeric(df, "ewc.lambda")
    assert num[df["model"] == "ewc"].notna().all() and num[df["model"] != "ewc"].isna().all()
    # a numeric comparison with a not-read cell fails loudly instead of silently dropping
    with pytest.raises(TypeError):
        _ = df["ewc.lambda"] > 100


def test_groupby_and_unstack_keep_not_read_apart(shared):
    df = cr.load(shared)
    g = df.groupby(["model", "ewc.lambda", "ewgn.lambda", "train.lr"])["acc"].count()
    # every configuration is its own group, with its 2 seeds; finetune is not dropped
    assert len(g) == 10 and (g == 2).all()
    assert ("finetune", cr.NOT_READ, cr.NOT_READ, 0.01) in g.index
    wide = (df[df["train.lr"] == 0.01].set_index(["model", "ewc.lambda", "ewgn.lambda", "seed"])
            ["acc"].unstack("ewc.lambda"))
    assert set(wide.columns) == {10.0, 10000.0, cr.NOT_READ}
    # finetune's values sit only in the "not read" column, never under a lambda
    ft = wide.loc["finetune"]
    assert ft[10000.0].isna().all() and ft[10.0].isna().all() and ft[cr.NOT_READ].notna().all()


def test_all_params_and_nan_option(shared):
    df = cr.load(shared, params="all")
    assert "ewgn.hidden" in df and "mlp.hidden" in df
    assert (df.loc[df["model"] == "ewgn", "ewgn.hidden"] == 4).all()
    assert (df.loc[df["model"] != "ewgn", "ewgn.hidden"] == cr.NOT_READ).all()
    nan_df = cr.load(shared, not_read=float("nan"))
    assert nan_df.loc[nan_df["model"] == "finetune", "ewc.lambda"].isna().all()
    assert list(cr.reads(nan_df, "ewc.lambda")) == list(nan_df["model"] == "ewc")


def test_results_cli_writes_the_table(shared, tmp_path):
    out = tmp_path / "runs.csv"
    p = subprocess.run([str(REPO / "analysis/results"), str(shared), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    import pandas as pd
    back = pd.read_csv(out)
    assert len(back) == 20
    assert set(back.loc[back["model"] == "finetune", "ewc.lambda"]) == {cr.NOT_READ}
    bad = subprocess.run([str(REPO / "analysis/results"), str(tmp_path / "nope.nc")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr


@pytest.mark.parametrize("bench,extra", [("split_mnist", "scenario: task,"),
                                         ("permuted_mnist", "tasks: 3,")])
def test_same_seed_shares_the_stream(bench, extra, tmp_path):
    out = run_sweep(PAIR_YAML.format(bench=bench, extra=extra), tmp_path / f"{bench}.yaml")
    runs = cr.Runs([str(out)])
    try:
        t = runs.table
        assert set(t["status"]) == {"ok"}, list(t["message"])
        R = {(r["model"], int(r["seed"])): runs.array(r, "R") for _, r in t.iterrows()}
        for seed in (3, 4):
            a, b = R[("finetune", seed)], R[("ewc", seed)]
            # same learner, same seed: same data subset, task order and batch order
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6,
                                       err_msg=f"{bench} seed {seed}: finetune and ewc(λ=0) differ")
        # and the seed matters (otherwise the equality above would prove nothing)
        assert not np.array_equal(R[("finetune", 3)], R[("finetune", 4)])
    finally:
        runs.close()
