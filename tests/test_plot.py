"""test_plot.py — analysis/plot as a reviewer would check it, read back from matplotlib.

Every figure is inspected before it is closed (plot.main(..., inspect=...)): its size, the
window extents of all its text (titles, axis labels, drawn tick labels, legend entries,
annotations, colour-bar labels) — no two may overlap —, the labels of every axis and colour
bar (quantity and direction), the x data of the ablation plots (every swept value of the
axis is on it, also one whose runs all diverged: issue 16), a zip group drawn as one axis,
distinct colour+marker per configuration, bookkeeping extras never drawn, sentinel codes
masked, and --format png|pdf|svg.
Run with the Debian interpreter: /usr/bin/python3 -m pytest tests/test_plot.py.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
import plot  # noqa: E402
from cls_pytest import clsweep  # noqa: E402

MAX_INCHES = (22.0, 26.0)

LR_YAML = """\
name: lr-diverge
benchmark: {name: teacher_student, blocks: 3, block_size: 40, batch: 20, test_size: 100}
models: [finetune, ewc]
seeds: 2
defaults: {mlp.hidden: [16], ewc.fisher_samples: 10}
grid:
  train.lr: [0.01, 0.05, 1000000]
  ewc.lambda: [10, 100]
output: results/lr-diverge.nc
"""

ZIP_YAML = """\
name: zip-gated
benchmark: {name: teacher_student, batch: 50, test_size: 200}
models: [gated, finetune]
seeds: 2
defaults: {mlp.hidden: [16]}
grid:
  gated.tau_ratio: [1, 13]
  gated.strength: [0, 0.1]
zip:
  - {benchmark.block_size: [20, 40, 80], benchmark.blocks: [16, 8, 4]}
output: results/zip-gated.nc
"""

LONG_YAML = """\
name: long-stream
benchmark: {name: teacher_student, blocks: 30, block_size: 10, batch: 20, test_size: 100}
models: [finetune]
seeds: 2
defaults: {mlp.hidden: [8]}
output: results/long.nc
"""


def run_sweep(text, path):
    path.write_text(text)
    out = path.with_suffix(".nc")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([str(clsweep()), "run", str(path), "--output", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    return tmp_path_factory.mktemp("plot")


@pytest.fixture(scope="module")
def lr_file(d):
    return run_sweep(LR_YAML, d / "lr.yaml")


@pytest.fixture(scope="module")
def zip_file(d):
    p = subprocess.run([str(clsweep()), "params", "gated"], capture_output=True, text=True)
    if "gated.tau_ratio" not in p.stdout:
        pytest.skip("the gated model is not in this build")
    return run_sweep(ZIP_YAML, d / "zip.yaml")


@pytest.fixture(scope="module")
def long_file(d):
    return run_sweep(LONG_YAML, d / "long.yaml")


# ---- reading a figure back ----

def drawn_texts(fig):
    """(text, window bbox) of every text that is drawn, tick labels only for drawn ticks."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    items, seen = [], set()

    def add(t):
        if t is None or id(t) in seen or not t.get_visible() or not t.get_text().strip():
            return
        seen.add(id(t))
        bb = t.get_window_extent(r)
        if bb.width >= 1 and bb.height >= 1:
            items.append((t.get_text(), bb))
    if fig._suptitle is not None:
        add(fig._suptitle)
    for t in fig.texts:
        add(t)
    for leg in fig.legends:
        for t in leg.get_texts():
            add(t)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            add(t)
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():
                for lab in (tick.label1, tick.label2):
                    if lab.get_visible():
                        add(lab)
        for t in ax.texts:
            add(t)
        leg = ax.get_legend()
        if leg is not None:
            for t in leg.get_texts():
                add(t)
    return items


def overlaps(items, tol=1.0):
    bad = []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            (ta, a), (tb, b) = items[i], items[j]
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            if w > tol and h > tol:
                bad.append((ta, tb))
    return bad


def make(files, outdir, *extra):
    figs = {}

    def inspect(fig, path):
        figs[Path(path).name] = {"size": tuple(fig.get_size_inches()),
                                 "overlaps": overlaps(drawn_texts(fig)),
                                 "axes": [ax for ax in fig.axes if ax.get_visible()],
                                 "fig": fig}
        info = figs[Path(path).name]
        info["xlabels"] = [ax.get_xlabel() for ax in info["axes"]]
        info["ylabels"] = [ax.get_ylabel() for ax in info["axes"]]
        info["xticklabels"] = [[t.get_text() for t in ax.get_xticklabels()] for ax in info["axes"]]
        info["xdata"] = [sorted({float(x) for ln in ax.get_lines() for x in ln.get_xdata()
                                 if _isnum(x)}) for ax in info["axes"]]
        info["xlim"] = [ax.get_xlim() for ax in info["axes"]]
        info["legend"] = [t.get_text() for ax in info["axes"] if ax.get_legend()
                          for t in ax.get_legend().get_texts()]
        info["styles"] = [(c.lines[0].get_color(), c.lines[0].get_marker())
                          for ax in info["axes"][:1] for c in ax.containers
                          if c.lines and c.lines[0] is not None]
    assert plot.main([str(f) for f in files] + ["-o", str(outdir), *extra], inspect=inspect) == 0
    return figs


def _isnum(x):
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def check_layout(figs):
    for name, info in figs.items():
        w, h = info["size"]
        assert w <= MAX_INCHES[0] and h <= MAX_INCHES[1], f"{name}: {w:.1f}x{h:.1f} in"
        assert info["overlaps"] == [], f"{name}: overlapping text {info['overlaps'][:5]}"
        for ax, yl in zip(info["axes"], info["ylabels"]):
            if ax.get_label() == "<colorbar>":
                assert yl and "better" in yl, f"{name}: colour bar label {yl!r}"


# ---- tests ----

def test_ablation_axis_covers_every_value_and_shows_diverged(lr_file, tmp_path):
    figs = make([lr_file], tmp_path)
    check_layout(figs)
    info = figs["ablation_train.lr_teacher_student.png"]
    for xd, xl in zip(info["xdata"], info["xlim"]):
        # every swept value is on the axis, the diverged 1e6 included (issue 16)
        for v in (0.01, 0.05, 1e6):
            assert any(abs(x - v) <= 1e-9 * v for x in xd), (v, xd)
            assert xl[0] < v < xl[1]
    # the non-ok runs have a legend entry with their count: 1e6 diverged for finetune and
    # both ewc lambdas, 2 seeds each → 6
    assert "diverged ×6" in info["legend"], info["legend"]
    # axis labels name the metric and its direction
    assert any("lower is better" in y for y in info["ylabels"]), info["ylabels"]
    assert info["xlabels"][0] == "train.lr"
    # one distinct colour+marker per configuration
    assert len(set(info["styles"])) == len(info["styles"]) >= 3, info["styles"]


def test_zip_group_is_one_axis_and_regime_is_split(zip_file, tmp_path):
    figs = make([zip_file], tmp_path, "--regime-metric", "all")
    check_layout(figs)
    names = set(figs)
    # the zipped pair is one ablation, labelled by both members; no separate "blocks" plot
    assert "ablation_benchmark.block_size_teacher_student.png" in names, names
    assert "ablation_benchmark.blocks_teacher_student.png" not in names
    info = figs["ablation_benchmark.block_size_teacher_student.png"]
    assert info["xlabels"][0] == "benchmark.block_size / benchmark.blocks"
    assert info["xticklabels"][0] == ["20 / 16", "40 / 8", "80 / 4"]
    # the regime map never averages strength 0 (the control) with 0.1: a panel each
    reg = figs["regime_gated_teacher_student.png"]
    titles = [ax.get_title() for ax in reg["axes"] if ax.get_label() != "<colorbar>"]
    assert any("strength=0" in t and "strength=0.1" not in t for t in titles), titles
    assert any("strength=0.1" in t for t in titles), titles
    # bookkeeping extras are never drawn; switch_time's −1 "never" is masked
    assert not any("ws_features" in n or "ws_ranks" in n or "ws_point_task" in n for n in names)
    for name, info in figs.items():
        if name.startswith("curve_switch_time"):
            for ax in info["axes"]:
                for ln in ax.get_lines():
                    assert all(y != -1 for y in ln.get_ydata()), name


def test_long_sequences_are_lines_short_ones_heatmaps(long_file, lr_file, tmp_path):
    figs = make([long_file], tmp_path / "long", "--only", "heatmap")
    check_layout(figs)
    info = figs["R_teacher_student.png"]
    ax = info["axes"][0]
    assert not ax.images and len(ax.get_lines()) == 2  # one line per task, 30 stages
    assert info["xlabels"][0] == "stage"
    short = make([lr_file], tmp_path / "short", "--only", "heatmap")
    ax = short["R_teacher_student.png"]["axes"][0]
    assert ax.images  # 3 stages: a heatmap
    check_layout(short)
    # one narrow panel: the title and the colour-bar label still fit
    one = make([lr_file], tmp_path / "one", "--only", "heatmap", "--select", "model=finetune")
    check_layout(one)
    assert len([a for a in one["R_teacher_student.png"]["axes"] if a.images]) == 1


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_formats(lr_file, tmp_path, fmt, magic):
    out = tmp_path / fmt
    assert plot.main([str(lr_file), "-o", str(out), "--format", fmt, "--only", "ablation"]) == 0
    files = sorted(out.iterdir())
    assert files and all(f.suffix == "." + fmt for f in files)
    assert all(f.read_bytes()[:len(magic)] == magic for f in files)


def test_metric_labels_have_direction():
    import clsweep_results as cr
    assert cr.metric_label("acc", False) == "ACC: final mean mse (lower is better)"
    assert cr.metric_label("acc", True) == "ACC: final mean accuracy (higher is better)"
    assert cr.metric_label("forgetting") == "forgetting (lower is better)"
    assert "higher is better" in cr.metric_label("retention")
    assert cr.is_bookkeeping("ws_features") and not cr.is_bookkeeping("acc")


def test_styles_are_distinct_and_colour_blind_safe():
    seen = {(plot.style(i)["color"], plot.style(i)["marker"]) for i in range(70)}
    assert len(seen) == 70
    assert set(plot.PALETTE) <= {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                 "#56B4E9", "#000000", "#F0E442"}  # Okabe–Ito


def test_overlap_detector_catches_overlap():
    """The checker itself: crowded tick labels and a title on a label are caught."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_xticks([100, 110, 250])
    ax.set_xticklabels(["100 / 100", "110 / 90", "250 / 40"])
    ax.set_xlim(0, 300)
    bad = overlaps(drawn_texts(fig))
    assert ("100 / 100", "110 / 90") in bad
    fig2, ax2 = plt.subplots(figsize=(3, 2))
    ax2.set_title("a title")
    ax2.text(0.5, 1.03, "a title", transform=ax2.transAxes, ha="center")
    assert overlaps(drawn_texts(fig2))
    fig3, _ = plt.subplots(figsize=(3, 2))
    assert overlaps(drawn_texts(fig3)) == []
    for f in (fig, fig2, fig3):
        plt.close(f)
