"""plot.py — PNG figures from clsweep sweep files.

Per benchmark in the files:
  R_<bench>.png            per model the mean forgetting matrix R (over seeds) as an
                           annotated heatmap, for the model's best configuration by ACC
                           (or the one chosen with --select); likewise for every other
                           (stage, task) array a model stores, e.g. R_adapted_<bench>.png
  ablation_<key>_<bench>.png
                           metric vs swept parameter, mean ± std over seeds as error bars,
                           one line per model (and per value of the model's other swept
                           keys); models that do not read the key are dashed horizontal
                           references
  regime_gated_<bench>.png the gated model's regime map: a metric over the gate timescale
                           ratio tau_w/tau_c (gated.tau_ratio) x block size
                           (benchmark.block_size), when both are swept
  curve_<name>_<bench>.png every 1-D per-run array (e.g. switch_time over stage, training
                           curves) as mean ± std over seeds, one line per model/config
  <name>_<bench>.png       every 2-D array over (stage, path), e.g. gates: the trajectories
                           of the gates c_p at the end of each block, one panel per config
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
        prog=PROG, description="PNG figures (R heatmaps, ablation curves, the gated regime "
        "map, per-stage curves and gate trajectories) from clsweep sweep files.",
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
    p.add_argument("--dpi", type=int, default=120, help="resolution (default 120)")
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
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def slug(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(s)).strip("_") or "x"


def config_label(key, keys, skip=()):
    parts = [f"{k.split('.')[-1]}={cr.format_value(key[k])}" for k in keys
             if k not in skip and key.get(k) is not None]
    return ", ".join(parts)


class Plotter:
    def __init__(self, runs, args, outdir):
        self.runs, self.args, self.outdir = runs, args, outdir
        self.written = []

    def save(self, fig, name):
        path = os.path.join(self.outdir, name)
        fig.savefig(path, dpi=self.args.dpi, bbox_inches="tight")
        plt.close(fig)
        self.written.append(path)

    # ---- helpers ----
    def configs(self, df, model):
        """[(key, runs, mean metric)] of a model's configurations, best ACC first."""
        sel = df[df["model"] == model]
        out = []
        for key, rows in cr.groups(self.runs, sel):
            ok = rows[rows["status"] == "ok"]
            mean = cr.summarise(ok["acc"])[0] if "acc" in ok else math.nan
            out.append((key, ok, mean))
        high = cr.is_better_high(sel) if len(sel) else True
        out.sort(key=lambda c: (math.isnan(c[2]), -c[2] if high else c[2]))
        return out

    def axes_of(self, df):
        """Swept keys that vary in df."""
        return self.runs.varying_axes(df)

    # ---- R heatmaps ----
    def heatmaps(self, bench, df):
        names = ["R"] + [n for n, dims in self.runs.arrays.items()
                         if n not in ("R", "R0") and tuple(dims) == ("stage", "task")]
        keys = self.axes_of(df)
        for name in names:
            panels = []
            for model in dict.fromkeys(df["model"]):
                cfgs = [c for c in self.configs(df, model) if len(c[1])]
                for key, ok, _ in cfgs:
                    mean, _, n = self.runs.mean_array(ok, name)
                    if mean is not None and mean.ndim == 2:
                        panels.append((model, key, mean, n, cr.is_better_high(ok)))
                        break
            if not panels:
                continue
            fig, axs = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                                    figsize=(max(3.2, 0.9 * panels[0][2].shape[1] + 1.6) * len(panels),
                                             max(2.8, 0.45 * max(p[2].shape[0] for p in panels) + 1.5)))
            vals = np.concatenate([p[2][np.isfinite(p[2])] for p in panels])
            vmin, vmax = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
            for pi, (ax, (model, key, mean, n, high)) in enumerate(zip(axs[0], panels)):
                im = ax.imshow(mean, cmap="viridis" if high else "viridis_r", vmin=vmin,
                               vmax=vmax, aspect="auto")
                S, T = mean.shape
                big = S * T > 120
                for i in range(S):
                    for j in range(T):
                        v = mean[i, j]
                        if np.isfinite(v) and not big:
                            frac = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                            dark = frac < 0.5 if high else frac > 0.5
                            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                                    color="white" if dark else "black")
                ax.set_xticks(range(T))
                ax.set_xticklabels([f"T{j}" for j in range(T)])
                ax.set_yticks(range(S) if S <= 25 else range(0, S, max(1, S // 10)))
                ax.set_xlabel("task evaluated")
                if pi == 0:
                    ax.set_ylabel("after stage")
                label = config_label(key, keys)
                ax.set_title(f"{model}\n{label}{' ' if label else ''}({n} seed{'s' * (n != 1)})",
                             fontsize=9)
            fig.colorbar(im, ax=list(axs[0]), shrink=0.85,
                         label=self.metric_label(df, name))
            fig.suptitle(f"{bench}: mean {name} over seeds (best configuration by ACC per model)",
                         fontsize=10)
            self.save(fig, f"{slug(name)}_{slug(bench)}.png")

    def metric_label(self, df, name):
        kinds = [m for m in dict.fromkeys(df["metric"]) if m]
        kind = "/".join(kinds)
        return f"{name} ({kind})" if name in ("R", "R_adapted") and kind else name

    # ---- ablation curves ----
    def ablations(self, bench, df, metrics):
        for axis in self.axes_of(df):
            fig, axs = plt.subplots(1, len(metrics), squeeze=False, layout="constrained",
                                    figsize=(4.6 * len(metrics), 3.6))
            xs_all = sorted({v for v in df[axis] if not cr._is_nan(v)}, key=cr.sort_value)
            numeric = all(isinstance(v, (int, float, np.floating, np.integer)) for v in xs_all)
            pos = {v: (float(v) if numeric else i) for i, v in enumerate(xs_all)}
            logx = numeric and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 100
            color_of = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(df["model"]))}
            drawn = False
            for ax, metric in zip(axs[0], metrics):
                for model in dict.fromkeys(df["model"]):
                    mdf = df[df["model"] == model]
                    reads = mdf[axis].map(lambda v: not cr._is_nan(v)).any()
                    others = [k for k in self.axes_of(mdf) if k != axis]
                    if reads:
                        lines = {}
                        for key, rows in cr.groups(self.runs, mdf, over=(axis,)):
                            ok = rows[rows["status"] == "ok"]
                            pts = []
                            for x in xs_all:
                                m, s, n = cr.summarise(ok[ok[axis] == x][metric] if metric in ok else [])
                                if n:
                                    pts.append((pos[x], m, 0.0 if s != s else s))
                            if pts:
                                lines[config_label(key, others)] = pts
                        ranked = sorted(lines.items(), key=lambda kv: -np.nanmean([p[1] for p in kv[1]])
                                        if cr.is_better_high(mdf) else np.nanmean([p[1] for p in kv[1]]))
                        marks = ["o", "s", "^", "D", "v", "P", "X", "*"]
                        for li, (label, pts) in enumerate(ranked[: self.args.max_lines]):
                            x, y, e = zip(*sorted(pts))
                            ax.errorbar(x, y, yerr=e, marker=marks[li % len(marks)], ms=4,
                                        capsize=3, color=color_of[model], ls="-",
                                        alpha=1.0 if li == 0 else 0.75,
                                        label=f"{model}" + (f" ({label})" if label else ""))
                            drawn = True
                    else:
                        # The model ignores this key: its best configuration as a reference.
                        cfgs = [c for c in self.configs(mdf, model) if len(c[1])]
                        if not cfgs or metric not in cfgs[0][1]:
                            continue
                        key, ok, _ = cfgs[0]
                        m, s, n = cr.summarise(ok[metric])
                        if not n:
                            continue
                        label = config_label(key, others)
                        ax.axhline(m, color=color_of[model], ls=":", lw=1.5,
                                   label=f"{model}" + (f" ({label})" if label else "")
                                   + " [no " + axis.split(".")[-1] + "]")
                        if s == s and s > 0:
                            ax.axhspan(m - s, m + s, color=color_of[model], alpha=0.12)
                        drawn = True
                if logx:
                    ax.set_xscale("log")
                if not numeric:
                    ax.set_xticks(range(len(xs_all)))
                    ax.set_xticklabels([str(v) for v in xs_all])
                ax.set_xlabel(axis)
                ax.set_ylabel(metric + self.direction_note(df, metric))
                ax.grid(alpha=0.3)
            if not drawn:
                plt.close(fig)
                continue
            handles, labels = axs[0][0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                       ncol=min(3, max(1, len(labels))), fontsize=8, frameon=False)
            fig.suptitle(f"{bench}: ablation over {axis} (mean ± std over seeds)", fontsize=10)
            self.save(fig, f"ablation_{slug(axis)}_{slug(bench)}.png")

    def direction_note(self, df, metric):
        if metric not in ("acc", "bwt", "fwt", "forgetting"):
            return ""
        high = cr.is_better_high(df)
        if metric == "acc":
            return " (higher is better)" if high else " (final mse, lower is better)"
        if metric == "forgetting":
            return " (lower is better)"
        return " (higher is better)"

    # ---- gated regime map ----
    def regime(self, bench, df):
        g = df[(df["model"] == "gated") & (df["status"] == "ok")]
        if g.empty or REGIME_X not in g or REGIME_Y not in g:
            return
        xs = sorted({v for v in g[REGIME_X] if not cr._is_nan(v)}, key=cr.sort_value)
        ys = sorted({v for v in g[REGIME_Y] if not cr._is_nan(v)}, key=cr.sort_value)
        if len(xs) < 2 or len(ys) < 2:
            return
        avail = [m for m in REGIME_METRICS if m in g and g[m].notna().any()]
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
        others = [k for k in self.axes_of(g) if k not in (REGIME_X, REGIME_Y)]
        fig, axs = plt.subplots(1, len(metrics), squeeze=False, layout="constrained",
                                figsize=(max(4.2, 0.9 * len(xs) + 2.4) * len(metrics),
                                         max(3.2, 0.5 * len(ys) + 2.0)))
        for ax, metric in zip(axs[0], metrics):
            grid = np.full((len(ys), len(xs)), np.nan)
            for i, y in enumerate(ys):
                for j, x in enumerate(xs):
                    cell = g[(g[REGIME_Y] == y) & (g[REGIME_X] == x)]
                    grid[i, j] = cr.summarise(cell[metric])[0]
            high = not metric.startswith("switch_time") and (metric != "forgetting") and \
                (metric not in ("acc", "acc_adapted") or cr.is_better_high(g))
            im = ax.imshow(grid, origin="lower", aspect="auto",
                           cmap="viridis" if high else "viridis_r")
            fin = grid[np.isfinite(grid)]
            lo, hi = (fin.min(), fin.max()) if fin.size else (0, 1)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(grid[i, j]):
                        frac = (grid[i, j] - lo) / (hi - lo) if hi > lo else 0.5
                        dark = frac < 0.5 if high else frac > 0.5
                        ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=7,
                                color="white" if dark else "black")
            ax.set_xticks(range(len(xs)))
            ax.set_xticklabels([cr.format_value(x) for x in xs])
            ax.set_yticks(range(len(ys)))
            ax.set_yticklabels([cr.format_value(y) for y in ys])
            ax.set_xlabel("block size (steps per block)")
            ax.set_ylabel("gate timescale ratio τ_w/τ_c")
            ax.set_title(metric, fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.85)
        note = f" (mean over seeds and {', '.join(others)})" if others else " (mean over seeds)"
        fig.suptitle(f"{bench}: gated regime map{note}", fontsize=10)
        self.save(fig, f"regime_gated_{slug(bench)}.png")

    # ---- per-stage curves and gate trajectories ----
    def curves(self, bench, df):
        keys = self.axes_of(df)
        for name, dims in self.runs.arrays.items():
            if name in ("R", "R0") or len(dims) != 1:
                continue
            fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
            drawn = 0
            for mi, model in enumerate(dict.fromkeys(df["model"])):
                cfgs = [c for c in self.configs(df, model) if len(c[1])]
                for ci, (key, ok, _) in enumerate(cfgs[: self.args.max_lines]):
                    mean, std, n = self.runs.mean_array(ok, name)
                    if mean is None:
                        continue
                    x = np.arange(mean.shape[0])
                    label = config_label(key, keys)
                    ax.plot(x, mean, marker="o", ms=3, color=f"C{(mi * 3 + ci) % 10}",
                            label=f"{model}" + (f" ({label})" if label else "") + f", n={n}")
                    if n > 1:
                        ax.fill_between(x, mean - std, mean + std, alpha=0.15,
                                        color=f"C{(mi * 3 + ci) % 10}")
                    drawn += 1
            if not drawn:
                plt.close(fig)
                continue
            ax.set_xlabel(dims[0])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="best")
            ax.set_title(f"{bench}: {self.runs.long_names.get(name, name)}\n"
                         "(mean ± std over seeds)", fontsize=9)
            self.save(fig, f"curve_{slug(name)}_{slug(bench)}.png")

    def gates(self, bench, df):
        keys = self.axes_of(df)
        for name, dims in self.runs.arrays.items():
            if len(dims) != 2 or dims[1] != "path":
                continue
            panels = []
            for model in dict.fromkeys(df["model"]):
                for key, ok, _ in [c for c in self.configs(df, model) if len(c[1])]:
                    mean, std, n = self.runs.mean_array(ok, name)
                    if mean is not None:
                        panels.append((model, key, mean, std, n))
            if not panels:
                continue
            panels = panels[: self.args.max_lines]
            ncol = min(3, len(panels))
            nrow = math.ceil(len(panels) / ncol)
            fig, axs = plt.subplots(nrow, ncol, squeeze=False, sharey=True, layout="constrained",
                                    figsize=(4.2 * ncol, 3.0 * nrow))
            for ax in axs.flat[len(panels):]:
                ax.set_visible(False)
            for ax, (model, key, mean, std, n) in zip(axs.flat, panels):
                x = np.arange(mean.shape[0])
                for p in range(mean.shape[1]):
                    ax.plot(x, mean[:, p], marker="o", ms=3, label=f"path {p}")
                    if n > 1:
                        ax.fill_between(x, mean[:, p] - std[:, p], mean[:, p] + std[:, p],
                                        alpha=0.15)
                label = config_label(key, keys)
                ax.set_title(f"{model}" + (f" ({label})" if label else "") + f", n={n}",
                             fontsize=8)
                ax.set_xlabel(dims[0])
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.grid(alpha=0.3)
            axs[0][0].set_ylabel(name)
            axs[0][0].legend(fontsize=7)
            fig.suptitle(f"{bench}: {self.runs.long_names.get(name, name)} "
                         "(mean ± std over seeds)", fontsize=10)
            self.save(fig, f"{slug(name)}_{slug(bench)}.png")


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


def main(argv=None):
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
        bad = [m for m in metrics if m not in runs.table]
        if bad:
            return cr.fail(PROG, f"--metric {', '.join(bad)}: not in these files "
                           f"(available: {', '.join(runs.metrics)})")
        outdir = args.outdir or os.path.splitext(args.files[0])[0] + "-figures"
        os.makedirs(outdir, exist_ok=True)
        only = set(args.only) or {"heatmap", "ablation", "regime", "curves", "gates"}
        p = Plotter(runs, args, outdir)
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
