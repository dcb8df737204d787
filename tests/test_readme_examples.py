"""test_readme_examples.py — the Python examples in README.md run and say what they claim.

Every ```python block of README.md is executed (from the repository root, as the README says)
against a small sweep shaped like the quick-start one (finetune and ewc, an ewc.lambda axis,
2 seeds), its path put in place of results/quickstart.nc. Checks that the xarray example
gives one mean per λ and that the pandas example keeps finetune in a "not read" group.
Run with the Debian interpreter: /usr/bin/python3 -m pytest tests/test_readme_examples.py.
"""
import contextlib
import io
import os
import re
import subprocess
from pathlib import Path

import pytest

from cls_pytest import clsweep

REPO = Path(__file__).resolve().parent.parent

SWEEP = """\
name: readme-example
benchmark: {name: teacher_student, blocks: 2, block_size: 40, batch: 20, test_size: 100}
models: [finetune, ewc]
seeds: 2
defaults: {mlp.hidden: [8], ewc.fisher_samples: 10}
grid:
  ewc.lambda: [1, 10, 100]
output: results/readme-example.nc
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    y = d / "s.yaml"
    y.write_text(SWEEP)
    out = d / "s.nc"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([str(clsweep()), "run", str(y), "--output", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert p.returncode == 0, p.stderr
    return out


def blocks():
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def run_block(code, path):
    code = code.replace("results/quickstart.nc", str(path))
    buf = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    return buf.getvalue()


def test_readme_has_both_examples():
    b = blocks()
    assert any("xr.open_dataset" in c for c in b) and any("cr.load" in c for c in b)
    # the pitfall snippet is gone: grouping by model alone averages over every λ
    assert not any('groupby("model").mean()' in c for c in b)


def test_xarray_example(result):
    code = [c for c in blocks() if "xr.open_dataset" in c][0]
    out = run_block(code, result)
    # one mean per λ, then finetune's single mean
    for lam in ("1.0", "10.0", "100.0"):
        assert lam in out, out
    assert re.search(r"^0\.\d+$", out.strip().splitlines()[-1]), out


def test_pandas_example(result):
    code = [c for c in blocks() if "cr.load" in c][0]
    out = run_block(code, result)
    lines = [ln for ln in out.splitlines() if ln.startswith(("ewc", "finetune", " "))]
    assert any(ln.startswith("finetune") and "not read" in ln for ln in out.splitlines()), out
    assert sum(1 for ln in lines if re.search(r"\b2$", ln)) == 4, out  # 4 groups, 2 seeds each
