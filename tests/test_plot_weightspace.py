"""test_plot_weightspace.py — analysis/plot_weightspace on a real sweep file: the
weightspace sweep (tests/e2e/weightspace.yaml, crashtest's synthetic matrices) on one
process; the figures are valid PNGs, --select filters runs, and a file without any
analysis is refused with a message.

Run with the Debian interpreter that can import xarray: /usr/bin/python3 -m pytest."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
import plot_weightspace  # noqa: E402
from cls_pytest import clsweep  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_sweep(yaml_text, out):
    y = out.with_suffix(".yaml")
    y.write_text(yaml_text)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([str(clsweep()), "run", str(y), "--output", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def weightspace(tmp_path_factory):
    text = (REPO / "tests/e2e/weightspace.yaml").read_text()
    return run_sweep(text, tmp_path_factory.mktemp("ws") / "ws.nc")


def test_figures_are_pngs(weightspace, tmp_path, capsys):
    assert plot_weightspace.main([str(weightspace), "-o", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    names = sorted(Path(p).name for p in printed)
    assert names == ["weightspace_pca_teacher_student.png",
                     "weightspace_separation_teacher_student.png"]
    for p in printed:
        data = Path(p).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_select_and_runs(weightspace):
    runs = plot_weightspace.load([str(weightspace)], [])
    # crashtest with analysis.when stage and end, 2 seeds; finetune and 'none' are skipped
    assert sorted((r["config"].split("analysis.when=")[1].split()[0], r["seed"]) for r in runs) == \
        [("end", "0"), ("end", "1"), ("stage", "0"), ("stage", "1")]
    only = plot_weightspace.load([str(weightspace)], [("seed", "1"), ("analysis.when", "stage")])
    assert len(only) == 1 and only[0]["model"] == "crashtest"


def test_file_without_analysis(tmp_path, capsys):
    out = run_sweep("name: plain\nbenchmark: {name: teacher_student, blocks: 2, block_size: 5, "
                    "test_size: 20}\nmodels: [finetune]\nseeds: 1\ndefaults: {mlp.hidden: [4]}\n",
                    tmp_path / "plain.nc")
    assert plot_weightspace.main([str(out), "-o", str(tmp_path / "fig")]) == 1
    assert "no weight-space analysis" in capsys.readouterr().err
    assert not (tmp_path / "fig").exists()
