"""plot.py — publication figures (PNG, PDF or SVG) from clsweep sweep files.

Per benchmark in the files (EXT = --format):
  R_<bench>.EXT            per model the mean R over seeds of its best configuration by ACC
                           (or the one fixed with --select): an annotated heatmap for up to
                           HEATMAP_MAX_STAGES stages, R[stage, task] against stage as one line
                           per task beyond; likewise every other (stage, task) array
  ablation_<key>_<bench>.EXT
                           metric vs swept parameter (a zip group is ONE axis, labelled by its
                           members), mean with 95 % t intervals over seeds, one colour+marker
                           per configuration; models that do not read the key are horizontal
                           references; configurations with diverged/failed/unsupported runs
                           get a marker at their x value and a legend entry ("diverged ×3")
  regime_gated_<bench>.EXT the gated model's map over tau_w/tau_c x block size, one panel
                           per value of gated's other swept keys (never averaged over them)
  curve_<name>_<bench>.EXT every 1-D per-run array over stage, mean ± sd; sentinel codes
                           (clsweep_results.SENTINELS, e.g. switch_time −1 = never) are
                           masked and counted in the legend
  <name>_<bench>.EXT       every 2-D array over (stage, path), e.g. gates
Bookkeeping extras (clsweep_results.BOOKKEEPING) are never drawn. Every axis and colour bar
names its quantity and direction (clsweep_results.metric_label). Colours: Okabe–Ito
(colour-blind safe), combined with markers so that no two configurations share both.
Run through the `analysis/plot` wrapper, which picks a Python that has matplotlib.
"""
import argparse
import math
import os
import re
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROG = "analysis/plot"
EPILOG = """\
examples:
  analysis/plot results/gated.nc                  figures in results/gated-figures/
  analysis/plot results/ewc.nc -o docs/figures --metric acc --metric forgetting
  analysis/plot results/ewc.nc --select train.lr=0.01   fix a key for the heatmaps/curves
"""
REGIME_X, REGIME_Y = "benchmark.block_size", "gated.tau_ratio"
REGIME_METRICS = ["specialisation", "acc_adapted", "switch_time_mean", "acc", "forgetting"]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="Figures (R heatmaps or curves, ablation curves, the gated "
        "regime map, per-stage curves and gate trajectories) from clsweep sweep files.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.nc", help="clsweep sweep file(s)")
    p.add_argument("-o", "--outdir", metavar="DIR",
                   help="output directory (default: FIRST_FILE without .nc + '-figures')")
    p.add_argument("--metric", action="append", default=[], metavar="M",
                   help="metric(s) of the ablation plots (repeatable; default acc, "
                   "forgetting and retention when present)")
    p.add_argument("--regime-metric", metavar="M",
                   help="metric of the gated regime map (default: the first present of "
                   + ", ".join(REGIME_METRICS) + "; 'all' for each of them)")
    p.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs with this swept value (repeatable), e.g. train.lr=0.01")
    p.add_argument("--max-lines", type=int, default=6,
                   help="most lines (configurations) per model in a plot (default 6)")
    p.add_argument("--dpi", type=int, default=120, help="resolution of PNGs (default 120)")
    p.add_argument("--format", choices=["png", "pdf", "svg"], default="png",
                   help="file format (default png)")
    p.add_argument("--only", action="append", default=[],
                   choices=["heatmap", "ablation", "regime", "curves", "gates"],
                   help="make only these kinds of figure (repeatable; default all)")
    return p.parse_args(argv)


if __name__ == "__main__":
    # --help and usage errors without the heavy imports; then the right interpreter
    parse_args(sys.argv[1:])
    from _bootstrap import require_analysis_python
    require_analysis_python(PROG)

import clsweep_results as cr  # noqa: E402
import clsweep_stats as st  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

HEATMAP_MAX_STAGES = 12
# Okabe & Ito (2008), the colour-blind-safe qualitative palette (yellow left out: too light
# on white); a configuration's style is (colour i mod 7, marker i mod 10): 70 distinct pairs.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
# How runs that did not finish ok are drawn (marker, colour) at their x value.
NONOK_STYLE = {"diverged": ("X", "#B2182B"), "failed": ("v", "#4D4D4D"),
               "unsupported": ("s", "#999999"), "pruned": ("|", "#999999")}
WRAP = 46


def style(i):
    """Colour, marker and line style of configuration i (distinct for i < 70)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "ls": ["-", "--", "-.", ":"][(i // 70) % 4]}


def slug(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(s)).strip("_") or "x"


def wrap(text, width=WRAP):
    import textwrap
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def config_label(key, keys, skip=()):
    parts = [f"{k.split('.')[-1]}={cr.format_value(key[k])}" for k in keys
             if k not in skip and key.get(k) is not None]
    return ", ".join(parts)


def nonok_counts(rows):
    """{status: count} of the rows that did not finish ok."""
    out = {}
    for s in rows["status"]:
        if s != "ok":
            out[s] = out.get(s, 0) + 1
    return out


def nonok_handles(totals):
    """Legend handles "diverged ×3" for the non-ok markers drawn on an axis."""
    return [Line2D([], [], ls="none", marker=NONOK_STYLE.get(s, ("x", "k"))[0], ms=7,
                   color=NONOK_STYLE.get(s, ("x", "k"))[1], label=f"{s} ×{n}")
            for s, n in totals.items() if n]


def axis_groups(runs, df):
    """The varying swept keys of df as axes: keys that move together (a zip group: every
    run that reads both has values in one-to-one correspondence) form ONE axis, a tuple."""
    keys = runs.varying_axes(df)
    groups, used = [], set()
    for k in keys:
        if k in used:
            continue
        g = [k]
        for k2 in keys:
            if k2 in used or k2 == k or k2 in g:
                continue
            both = df[[not cr._is_nan(a) and not cr._is_nan(b) for a, b in zip(df[k], df[k2])]]
            if both.empty:
                continue
            pairs = set(zip(both[k], both[k2]))
            if len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs}):
                g.append(k2)
        used.update(g)
        groups.append(tuple(g))
    return groups


def axis_name(group):
    return " / ".join(group)


class Plotter:
    def __init__(self, runs, args, outdir, inspect=None):
        self.runs, self.args, self.outdir = runs, args, outdir
        self.inspect = inspect
        self.written = []

    def save(self, fig, name):
        path = os.path.join(self.outdir, f"{name}.{self.args.format}")
        fig.savefig(path, dpi=self.args.dpi, bbox_inches="tight",
                    metadata={"Date": None} if self.args.format == "svg" else None)
        if self.inspect:
            self.inspect(fig, path)
        plt.close(fig)
        self.written.append(path)

    # ---- helpers ----
    def configs(self, df, model):
        """[(key, ok runs, mean ACC, all runs)] of a model's configurations, best ACC first."""
        sel = df[df["model"] == model]
        out = []
        for key, rows in cr.groups(self.runs, sel):
            ok = rows[rows["status"] == "ok"]
            mean = st.summarise(ok["acc"]).mean if "acc" in ok else math.nan
            out.append((key, ok, mean, rows))
        high = cr.is_better_high(sel) if len(sel) else True
        out.sort(key=lambda c: (math.isnan(c[2]), -c[2] if high else c[2]))
        return out

    def axes_of(self, df):
        return self.runs.varying_axes(df)

    def label(self, df, name):
        high = cr.is_better_high(df) if len(df) else True
        kinds = [m for m in dict.fromkeys(df["metric"]) if m]
        return cr.metric_label(name, high, "/".join(kinds) or None)

    # ---- R: heatmaps (short sequences) or lines against stage (long ones) ----
    def heatmaps(self, bench, df):
        names = ["R"] + [n for n, dims in self.runs.arrays.items()
                         if n not in ("R", "R0") and tuple(dims) == ("stage", "task")]
        keys = self.axes_of(df)
        for name in names:
            panels, missing = [], []
            for model in dict.fromkeys(df["model"]):
                cfgs = self.configs(df, model)
                for key, ok, _, _ in cfgs:
                    if not len(ok):
                        continue
                    mean, _, n = self.runs.mean_array(ok, name)
                    if mean is not None and mean.ndim == 2:
                        panels.append((model, key, mean, n, cr.is_better_high(ok)))
                        break
                else:
                    allrows = df[df["model"] == model]
                    if len(allrows) and not (allrows["status"] == "ok").any():
                        missing.append((model, nonok_counts(allrows)))
            if not panels:
                continue
            S = max(p[2].shape[0] for p in panels)
            if S > HEATMAP_MAX_STAGES:
                self.r_lines(bench, df, name, panels, missing, keys)
            else:
                self.r_heatmap(bench, df, name, panels, missing, keys)

    def _grid(self, n, w, h):
        ncol = min(3, n)
        nrow = math.ceil(n / ncol)
        fig, axs = plt.subplots(nrow, ncol, squeeze=False, layout="constrained",
                                figsize=(w * ncol, h * nrow))
        for ax in axs.flat[n:]:
            ax.set_visible(False)
        return fig, axs

    def _missing_note(self, fig, missing):
        if missing:
            txt = "; ".join(f"{m}: no ok run (" + ", ".join(f"{s} ×{c}" for s, c in cnt.items())
                            + ")" for m, cnt in missing)
            return "\n" + wrap(txt, max(30, int(fig.get_size_inches()[0] * 11)))
        return ""

    def r_heatmap(self, bench, df, name, panels, missing, keys):
        T = max(p[2].shape[1] for p in panels)
        S = max(p[2].shape[0] for p in panels)
        fig, axs = self._grid(len(panels), max(3.0, 0.62 * T + 1.4), max(2.6, 0.42 * S + 1.3))
        vals = np.concatenate([p[2][np.isfinite(p[2])] for p in panels])
        vmin, vmax = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
        high = panels[0][4]
        im = None
        for pi, (ax, (model, key, mean, n, _)) in enumerate(zip(axs.flat, panels)):
            im = ax.imshow(mean, cmap="viridis" if high else "viridis_r", vmin=vmin,
                           vmax=vmax, aspect="auto")
            S_, T_ = mean.shape
            fs = 7 if T_ <= 6 else 6
            for i in range(S_):
                for j in range(T_):
                    v = mean[i, j]
                    if np.isfinite(v) and T_ <= 10:
                        frac = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                        dark = frac < 0.5 if high else frac > 0.5
                        ax.text(j, i, f"{v:.2f}" if abs(v) < 10 else f"{v:.3g}", ha="center",
                                va="center", fontsize=fs, color="white" if dark else "black")
            ax.set_xticks(range(T_))
            ax.set_xticklabels([f"T{j}" for j in range(T_)], fontsize=8)
            ax.set_yticks(range(S_))
            ax.tick_params(axis="y", labelsize=8)
            ax.set_xlabel("task evaluated")
            ax.set_ylabel("after stage")
            label = config_label(key, keys)
            ax.set_title(wrap(f"{model}" + (f" ({label})" if label else "")
                              + f", n={n} seed{'s' * (n != 1)}", 34), fontsize=8)
        fw, fh = fig.get_size_inches()
        fig.colorbar(im, ax=list(axs.flat[:len(panels)]), shrink=0.9,
                     label=wrap(self.label(df, name), max(16, int(fh * 7))))
        fig.suptitle(wrap(f"{bench}: mean {name} over seeds, best configuration by ACC per "
                          "model", max(30, int(fw * 11))) + self._missing_note(fig, missing),
                     fontsize=9)
        self.save(fig, f"{slug(name)}_{slug(bench)}")

    def r_lines(self, bench, df, name, panels, missing, keys):
        fig, axs = self._grid(len(panels), 4.4, 3.2)
        for pi, (ax, (model, key, mean, n, _)) in enumerate(zip(axs.flat, panels)):
            x = np.arange(mean.shape[0])
            for j in range(mean.shape[1]):
                stl = style(j)
                ax.plot(x, mean[:, j], color=stl["color"], lw=1.2, label=f"task {j}")
            ax.set_xlabel("stage")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
            ax.set_ylabel(wrap(self.label(df, name), 34), fontsize=8)
            label = config_label(key, keys)
            ax.set_title(wrap(f"{model}" + (f" ({label})" if label else "")
                              + f", n={n} seed{'s' * (n != 1)}", 40), fontsize=8)
            ax.grid(alpha=0.3)
            if mean.shape[1] <= 8:
                ax.legend(fontsize=7, loc="best", frameon=False)
        fig.suptitle(wrap(f"{bench}: mean {name} over seeds against stage, best configuration "
                          "by ACC per model", 80) + self._missing_note(fig, missing), fontsize=9)
        self.save(fig, f"{slug(name)}_{slug(bench)}")

    # ---- ablation curves ----
    def ablations(self, bench, df, metrics):
        for group in axis_groups(self.runs, df):
            self.ablation(bench, df, metrics, group)

    def ablation(self, bench, df, metrics, group):
        axis = group[0]

        def xval(row):
            return tuple(None if cr._is_nan(row[k]) else row[k] for k in group)
        vals = {}
        for _, r in df.iterrows():
            v = xval(r)
            if v[0] is not None:
                vals[v] = True
        xs_all = sorted(vals, key=lambda v: tuple(cr.sort_value(e) for e in v))
        numeric = all(isinstance(v[0], (int, float, np.floating, np.integer)) for v in xs_all)
        # a zip group is drawn on evenly spaced positions (its members need not be monotone
        # together); a single numeric key on its own scale
        numeric = numeric and len(group) == 1
        pos = {v: (float(v[0]) if numeric else i) for i, v in enumerate(xs_all)}
        logx = numeric and min(p for p in pos.values()) > 0 and \
            max(pos.values()) / min(pos.values()) >= 100
        fig, axs = plt.subplots(1, len(metrics), squeeze=False, layout="constrained",
                                figsize=(4.0 * len(metrics) + 2.6, 3.4))
        drawn = False
        handles = {}
        models = list(dict.fromkeys(df["model"]))
        for ax, metric in zip(axs[0], metrics):
            ci = 0
            totals = {}
            for model in models:
                mdf = df[df["model"] == model]
                reads = mdf[axis].map(lambda v: not cr._is_nan(v)).any()
                others = [k for k in self.axes_of(mdf) if k not in group]
                if reads:
                    lines = []
                    for key, rows in cr.groups(self.runs, mdf, over=group):
                        ok = rows[rows["status"] == "ok"]
                        pts, bad = [], []
                        for v in xs_all:
                            at = rows[[xval(r) == v for _, r in rows.iterrows()]]
                            if not len(at):
                                continue
                            okv = at[at["status"] == "ok"]
                            s = st.summarise(okv[metric] if metric in okv else [])
                            if s.n:
                                pts.append((pos[v], s.mean, 0.0 if s.n < 2 else s.half_width))
                            cnt = nonok_counts(at)
                            if cnt:
                                bad.append((pos[v], cnt))
                        if pts or bad:
                            mean_all = np.nanmean([p[1] for p in pts]) if pts else math.nan
                            lines.append((config_label(key, others), pts, bad, mean_all))
                    high = cr.is_better_high(mdf)
                    lines.sort(key=lambda c: (math.isnan(c[3]), -c[3] if high else c[3]))
                    if len(lines) > self.args.max_lines:
                        more = len(lines) - self.args.max_lines
                        t = (f"{model}: {more} more configuration{'s' * (more != 1)} not "
                             "drawn (--max-lines)")
                        handles.setdefault(t, Line2D([], [], ls="none", label=t))
                    for label, pts, bad, _ in lines[: self.args.max_lines]:
                        stl = style(ci)
                        ci += 1
                        text = f"{model}" + (f" ({label})" if label else "")
                        if pts:
                            x, y, e = zip(*sorted(pts))
                            h = ax.errorbar(x, y, yerr=e, marker=stl["marker"], ms=5, capsize=3,
                                            color=stl["color"], ls=stl["ls"], lw=1.3, label=text)
                            handles.setdefault(text, h)
                            drawn = True
                        for xp, cnt in bad:
                            for sname, c in cnt.items():
                                mk, col = NONOK_STYLE.get(sname, ("x", "k"))
                                ax.plot([xp], [0.04], transform=ax.get_xaxis_transform(),
                                        marker=mk, color=col, ms=8, ls="none", clip_on=False,
                                        zorder=5)
                                totals[sname] = totals.get(sname, 0) + c
                                drawn = True
                else:
                    cnt = nonok_counts(mdf)
                    if cnt:   # not on this axis (the model does not read it), but counted
                        t = (f"{model}: " + ", ".join(f"{k} ×{v}" for k, v in cnt.items())
                             + f" (does not read {axis.split('.')[-1]})")
                        handles.setdefault(t, Line2D([], [], ls="none", label=t))
                    cfgs = [c for c in self.configs(mdf, model) if len(c[1])]
                    if not cfgs or metric not in cfgs[0][1]:
                        continue
                    key, ok, _, _ = cfgs[0]
                    s = st.summarise(ok[metric])
                    if not s.n:
                        continue
                    stl = style(ci)
                    ci += 1
                    label = config_label(key, others)
                    text = (f"{model}" + (f" ({label})" if label else "")
                            + f" — does not read {axis.split('.')[-1]}")
                    h = ax.axhline(s.mean, color=stl["color"], ls=":", lw=1.6, label=text)
                    if s.n > 1:
                        ax.axhspan(s.lo, s.hi, color=stl["color"], alpha=0.07, lw=0)
                    handles.setdefault(text, h)
                    drawn = True
            for h in nonok_handles(totals):
                handles.setdefault(h.get_label(), h)
            if logx:
                ax.set_xscale("log")
            ticks = [pos[v] for v in xs_all]
            ticklabels = [" / ".join(cr.format_value(e) for e in v) for v in xs_all]
            if not numeric or len(group) > 1 or (not logx and len(xs_all) <= 8):
                ax.set_xticks(ticks)
                ax.set_xticklabels(ticklabels, rotation=30 if len(xs_all) > 4 else 0,
                                   ha="right" if len(xs_all) > 4 else "center", fontsize=8)
                ax.minorticks_off()
            if numeric and len(xs_all) > 1:
                lo, hi = min(ticks), max(ticks)
                if logx:
                    ax.set_xlim(lo / 1.5, hi * 1.5)
                else:
                    pad = 0.06 * (hi - lo)
                    ax.set_xlim(lo - pad, hi + pad)
            elif not numeric:
                ax.set_xlim(-0.5, len(xs_all) - 0.5)
            ax.set_xlabel(wrap(axis_name(group), 40))
            ax.set_ylabel(wrap(self.label(df, metric), 34), fontsize=8)
            ax.grid(alpha=0.3)
        if not drawn:
            plt.close(fig)
            return
        axs[0][-1].legend(list(handles.values()), [wrap(t, 40) for t in handles], fontsize=7,
                          loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        fig.suptitle(wrap(f"{bench}: ablation over {axis_name(group)} (mean and 95 % t "
                          "interval over seeds)", 90), fontsize=9)
        self.save(fig, f"ablation_{slug(axis)}_{slug(bench)}")

    # ---- gated regime map ----
    def regime(self, bench, df):
        g = df[df["model"] == "gated"]
        if g.empty or REGIME_X not in g or REGIME_Y not in g:
            return
        xs = sorted({v for v in g[REGIME_X] if not cr._is_nan(v)}, key=cr.sort_value)
        ys = sorted({v for v in g[REGIME_Y] if not cr._is_nan(v)}, key=cr.sort_value)
        if len(xs) < 2 or len(ys) < 2:
            return
        ok_g = g[g["status"] == "ok"]
        avail = [m for m in REGIME_METRICS if m in ok_g and ok_g[m].notna().any()]
        want = self.args.regime_metric
        if want == "all":
            metrics = avail
        elif want:
            if want not in g:
                raise ValueError(f"--regime-metric {want}: not in the gated runs "
                                 f"(available: {', '.join(avail)})")
            metrics = [want]
        else:
            metrics = avail[:1]
        if not metrics:
            return
        groups = axis_groups(self.runs, g)
        xgroup = next((gr for gr in groups if REGIME_X in gr), (REGIME_X,))
        others = [k for gr in groups if REGIME_X not in gr and REGIME_Y not in gr for k in gr]
        panels = []
        for key, rows in cr.groups(self.runs, g, over=tuple(xgroup) + (REGIME_Y,)):
            panels.append((config_label(key, others), rows))
        n = len(panels) * len(metrics)
        fig, axs = self._grid(n, max(3.6, 0.75 * len(xs) + 2.2), max(3.0, 0.45 * len(ys) + 2.0))
        high_r = cr.is_better_high(g)
        for pi, (ax, (metric, (plabel, rows))) in enumerate(
                zip(axs.flat, [(m, p) for m in metrics for p in panels])):
            grid = np.full((len(ys), len(xs)), np.nan)
            bad = {}
            for i, y in enumerate(ys):
                for j, x in enumerate(xs):
                    cell = rows[(rows[REGIME_Y] == y) & (rows[REGIME_X] == x)]
                    okc = cell[cell["status"] == "ok"]
                    grid[i, j] = st.summarise(okc[metric]).mean
                    cnt = nonok_counts(cell)
                    if cnt:
                        bad[(i, j)] = cnt
            h = cr.higher_is_better(metric, high_r)
            im = ax.imshow(grid, origin="lower", aspect="auto",
                           cmap="viridis" if h is not False else "viridis_r")
            fin = grid[np.isfinite(grid)]
            lo, hi = (fin.min(), fin.max()) if fin.size else (0, 1)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(grid[i, j]):
                        frac = (grid[i, j] - lo) / (hi - lo) if hi > lo else 0.5
                        dark = frac < 0.5 if h is not False else frac > 0.5
                        ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center",
                                fontsize=7, color="white" if dark else "black")
                    if (i, j) in bad:
                        sname = next(iter(bad[(i, j)]))
                        mk, col = NONOK_STYLE.get(sname, ("x", "k"))
                        ax.plot([j + 0.32], [i + 0.28], marker=mk, color=col, ms=6, ls="none")
            ax.set_xticks(range(len(xs)))
            xt = []
            for x in xs:
                partners = [k for k in xgroup if k != REGIME_X]
                extra = ""
                if partners:
                    pv = rows.loc[rows[REGIME_X] == x, partners[0]]
                    pv = [v for v in pv if not cr._is_nan(v)]
                    extra = f"/{cr.format_value(pv[0])}" if pv else ""
                xt.append(cr.format_value(x) + extra)
            ax.set_xticklabels(xt, fontsize=8)
            ax.set_yticks(range(len(ys)))
            ax.set_yticklabels([cr.format_value(y) for y in ys], fontsize=8)
            ax.set_xlabel(wrap(" / ".join(k.split(".")[-1] for k in xgroup)
                               + " (steps per block" + (" / blocks)" if len(xgroup) > 1 else ")"), 36))
            ax.set_ylabel("gate timescale ratio τ_w/τ_c")
            ax.set_title(wrap(f"{metric}" + (f" — {plabel}" if plabel else ""), 36), fontsize=8)
            fig.colorbar(im, ax=ax, shrink=0.9, label=wrap(cr.metric_label(metric, high_r), 30))
            if bad:
                tot = {}
                for cnt in bad.values():
                    for s_, c in cnt.items():
                        tot[s_] = tot.get(s_, 0) + c
                ax.legend(handles=nonok_handles(tot), fontsize=7, loc="upper center",
                          bbox_to_anchor=(0.5, -0.28), frameon=False)
        fig.suptitle(wrap(f"{bench}: gated regime map (mean over seeds; one panel per value "
                          "of the other swept keys)", 80), fontsize=9)
        self.save(fig, f"regime_gated_{slug(bench)}")

    # ---- per-stage curves and gate trajectories ----
    def curves(self, bench, df):
        keys = self.axes_of(df)
        for name, dims in self.runs.arrays.items():
            if name in ("R", "R0") or len(dims) != 1:
                continue
            code = cr.SENTINELS.get(name)
            fig, ax = plt.subplots(figsize=(6.8, 3.6), layout="constrained")
            drawn = 0
            all_never = []
            for model in dict.fromkeys(df["model"]):
                cfgs = [c for c in self.configs(df, model) if len(c[1])]
                shown = 0
                for key, ok, _, _ in cfgs:
                    if shown >= self.args.max_lines:
                        break
                    arrs = [a for a in (self.runs.array(r, name) for _, r in ok.iterrows())
                            if a is not None]
                    if not arrs:
                        continue
                    L = max(a.shape[0] for a in arrs)
                    stack = np.full((len(arrs), L), np.nan)
                    for i, a in enumerate(arrs):
                        stack[i, :a.shape[0]] = a
                    never, blocks = 0, int(np.isfinite(stack).sum())
                    if code is not None:
                        hit = stack == code[0]
                        never = int(hit.sum())
                        stack[hit] = np.nan
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        mean = np.nanmean(stack, axis=0)
                        sd = np.nanstd(stack, axis=0, ddof=1) if len(arrs) > 1 else None
                    if not np.isfinite(mean).any():
                        if never:
                            all_never.append(f"{model}" + (f" ({config_label(key, keys)})"
                                                           if config_label(key, keys) else ""))
                        continue
                    x = np.arange(L)
                    stl = style(drawn)
                    label = config_label(key, keys)
                    text = f"{model}" + (f" ({label})" if label else "") + f", n={len(arrs)}"
                    if code is not None:
                        text += f"; {code[1]} in {never} of {blocks} blocks"
                    ax.plot(x, mean, marker=stl["marker"], ms=3, color=stl["color"],
                            markevery=max(1, L // 20), lw=1.2, label=wrap(text, 50))
                    if sd is not None:
                        ax.fill_between(x, mean - sd, mean + sd, alpha=0.15, color=stl["color"])
                    drawn += 1
                    shown += 1
            if all_never:
                print(f"{PROG}: {name} on {bench}: {code[1]} in every block for "
                      f"{len(all_never)} configuration(s): {'; '.join(all_never)}"
                      + ("" if drawn else " (no figure: nothing else to draw)"), file=sys.stderr)
            if not drawn:
                plt.close(fig)
                continue
            if all_never:
                ax.plot([], [], ls="none", marker="", label=wrap(
                    f"{code[1]} in every block (not drawn): {len(all_never)} configuration(s)", 50))
            ax.set_xlabel(dims[0])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(wrap(self.label(df, name), 34), fontsize=8)
            ax.grid(alpha=0.3)
            handles, _ = ax.get_legend_handles_labels()
            extra = nonok_handles(nonok_counts(df))   # runs with no curve: counted, not hidden
            for h in extra:
                h.set_label(h.get_label() + " (no curve)")
            ax.legend(handles=handles + extra, fontsize=7, loc="upper left",
                      bbox_to_anchor=(1.02, 1.0), frameon=False)
            note = f"; {code[1]} ({code[0]:g}) masked" if code else ""
            fig.suptitle(wrap(f"{bench}: {self.runs.long_names.get(name, name)} "
                              f"(mean ± sd over seeds{note})", 80), fontsize=9)
            self.save(fig, f"curve_{slug(name)}_{slug(bench)}")

    def gates(self, bench, df):
        keys = self.axes_of(df)
        for name, dims in self.runs.arrays.items():
            if len(dims) != 2 or dims[1] != "path":
                continue
            panels = []
            for model in dict.fromkeys(df["model"]):
                for key, ok, _, _ in [c for c in self.configs(df, model) if len(c[1])]:
                    mean, std, n = self.runs.mean_array(ok, name)
                    if mean is not None:
                        panels.append((model, key, mean, std, n))
            if not panels:
                continue
            panels = panels[: self.args.max_lines]
            fig, axs = self._grid(len(panels), 4.2, 3.0)
            for ax, (model, key, mean, std, n) in zip(axs.flat, panels):
                x = np.arange(mean.shape[0])
                for p in range(mean.shape[1]):
                    stl = style(p)
                    ax.plot(x, mean[:, p], color=stl["color"], lw=1.2, label=f"path {p}")
                    if n > 1:
                        ax.fill_between(x, mean[:, p] - std[:, p], mean[:, p] + std[:, p],
                                        alpha=0.15, color=stl["color"])
                label = config_label(key, keys)
                ax.set_title(wrap(f"{model}" + (f" ({label})" if label else "") + f", n={n}",
                                  40), fontsize=8)
                ax.set_xlabel(dims[0])
                ax.set_ylabel(wrap(self.label(df, name), 30), fontsize=8)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
                ax.grid(alpha=0.3)
            axs[0][0].legend(fontsize=7, frameon=False)
            fig.suptitle(wrap(f"{bench}: {self.runs.long_names.get(name, name)} "
                              "(mean ± sd over seeds)", 80), fontsize=9)
            self.save(fig, f"{slug(name)}_{slug(bench)}")


def apply_select(runs, selects):
    """The runs matching every KEY=VALUE; for a swept key, models that do not read it stay
    in (they are the references in the plots)."""
    df = runs.table
    for s in selects:
        if "=" not in s:
            raise ValueError(f"--select {s!r}: expected KEY=VALUE")
        k, v = s.split("=", 1)
        if k in ("model", "benchmark", "seed", "status"):
            df = df[df[k].astype(str) == v]
            continue
        if k not in runs.axes:
            raise ValueError(f"--select {k}: not a swept key (swept: {', '.join(runs.axes) or 'none'})")

        def match(x):
            if cr._is_nan(x):
                return True
            try:
                return math.isclose(float(x), float(v), rel_tol=1e-9)
            except (TypeError, ValueError):
                return str(x) == v
        df = df[df[k].map(match)]
    if df.empty:
        raise ValueError("no run matches --select " + " ".join(selects))
    return df


def draw_all(runs, args, df, metrics, outdir, inspect=None):
    """Draws every kind of figure asked for (args.only) per benchmark of df into outdir;
    returns the Plotter (its .written lists the paths). Used by main and analysis/report."""
    only = set(args.only) or {"heatmap", "ablation", "regime", "curves", "gates"}
    p = Plotter(runs, args, outdir, inspect)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for bench in dict.fromkeys(df["benchmark"]):
            bdf = df[df["benchmark"] == bench]
            if "heatmap" in only:
                p.heatmaps(bench, bdf)
            if "ablation" in only and metrics:
                p.ablations(bench, bdf, metrics)
            if "regime" in only:
                p.regime(bench, bdf)
            if "curves" in only:
                p.curves(bench, bdf)
            if "gates" in only:
                p.gates(bench, bdf)
    return p


def main(argv=None, inspect=None):
    """The command. inspect(fig, path), when given, sees every figure before it is closed
    (the tests read the drawn data and text extents through it)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        runs = cr.Runs(args.files)
    except cr.NotASweepFile as e:
        return cr.fail(PROG, e)
    try:
        if runs.table.empty:
            return cr.fail(PROG, "the file(s) hold no finished runs")
        df = apply_select(runs, args.select)
        metrics = args.metric or [m for m in ("acc", "forgetting", "retention") if m in runs.metrics]
        bad = [m for m in metrics if m not in runs.table or cr.is_bookkeeping(m)]
        if bad:
            return cr.fail(PROG, f"--metric {', '.join(bad)}: not in these files "
                           f"(available: {', '.join(runs.metrics)})")
        outdir = args.outdir or os.path.splitext(args.files[0])[0] + "-figures"
        os.makedirs(outdir, exist_ok=True)
        p = draw_all(runs, args, df, metrics, outdir, inspect)
        for path in p.written:
            print(path)
        if not p.written:
            print(f"{PROG}: nothing to plot (no finished runs with R?)", file=sys.stderr)
        return 0
    except ValueError as e:
        return cr.fail(PROG, e)
    except OSError as e:
        return cr.fail(PROG, e)
    finally:
        runs.close()


if __name__ == "__main__":
    sys.exit(main())
