"""plot_weightspace.py — figures of the weight-space analysis (docs/weightspace.md) from
clsweep sweep files: the paper's UMAP figure, with PCA.

Per benchmark in the files:
  weightspace_pca_<bench>.png        one column per model, one row per analysed stage (at
                                     most --max-stages, evenly spread, always the last):
                                     the stored points (ws_pc1, ws_pc2) of one run,
                                     coloured by task; the title gives the task separation
                                     and the variance the two components explain
  weightspace_separation_<bench>.png task separation (between/within-task scatter ratio in
                                     the top-k PC space, log scale) and the share of that
                                     scatter explained by the task, vs stage: mean ± sd
                                     over seeds (sample sd, ddof 1), one line per model and configuration
Runs without analysis (models without a weights hook, analysis.when: none) are skipped.
Run through the `analysis/plot_weightspace` wrapper, which picks a Python with matplotlib.
"""
import argparse
import os
import sys

PROG = "analysis/plot_weightspace"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n")[0].split("— ")[1],
        epilog="example: analysis/plot_weightspace results/ewgn.nc -o docs/figures",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.nc", help="clsweep sweep file(s)")
    p.add_argument("-o", "--outdir", metavar="DIR",
                   help="output directory (default: FIRST_FILE without .nc + '-figures')")
    p.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose config has this value (repeatable), e.g. seed=0")
    p.add_argument("--max-stages", type=int, default=4,
                   help="most stages (rows) in the scatter figure (default 4)")
    p.add_argument("--dpi", type=int, default=120, help="resolution (default 120)")
    return p.parse_args(argv)


def load(paths, select):
    """One record per analysed run: bench, model, config without seed, seed, arrays."""
    import numpy as np
    import xarray as xr
    runs = []
    for path in paths:
        try:
            ds = xr.open_dataset(path)
        except (OSError, ValueError) as e:
            sys.exit(f"{PROG}: error: cannot read {path}: {e}")
        if "ws_separation" not in ds:
            print(f"{PROG}: {path}: no weight-space analysis stored (no model with a weights "
                  "hook, or analysis.when: none)", file=sys.stderr)
            continue
        for i in range(ds.sizes["run"]):
            sep = ds["ws_separation"].values[i]
            if not np.isfinite(sep).any():
                continue
            cfg = dict(kv.split("=", 1) for kv in str(ds["config"].values[i]).split() if "=" in kv)
            if any(cfg.get(k) != v for k, v in select):
                continue
            get = lambda v: ds[v].values[i] if v in ds else None  # noqa: E731
            runs.append({
                "bench": str(ds["benchmark"].values[i]), "model": str(ds["model"].values[i]),
                "seed": cfg.get("seed", ""),
                "config": " ".join(f"{k}={v}" for k, v in sorted(cfg.items())
                                   if k not in ("seed", "model", "benchmark.name")),
                "sep": sep, "r2": get("ws_task_r2"), "explained": get("ws_explained"),
                "pc1": get("ws_pc1"), "pc2": get("ws_pc2"), "task": get("ws_point_task"),
            })
    return runs


def short_config(config, common):
    parts = [kv for kv in config.split() if kv not in common]
    return " ".join(parts) if parts else ""


def plot_scatter(plt, np, runs, bench, outdir, max_stages, dpi):
    models = sorted({r["model"] for r in runs})
    first = {m: next(r for r in runs if r["model"] == m) for m in models}
    analysed = {m: [s for s in range(len(first[m]["sep"])) if np.isfinite(first[m]["sep"][s])]
                for m in models}
    nrows = max(1, min(max_stages, max(len(v) for v in analysed.values())))
    fig, axes = plt.subplots(nrows, len(models), figsize=(3.4 * len(models), 3.0 * nrows),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for c, m in enumerate(models):
        r, st = first[m], analysed[m]
        if len(st) > nrows:   # evenly spread, keeping the last
            st = [st[int(round(j * (len(st) - 1) / (nrows - 1)))] for j in range(nrows)] \
                if nrows > 1 else [st[-1]]
        for row in range(nrows):
            ax = axes[row][c]
            if row >= len(st) or r["pc1"] is None:
                ax.axis("off")
                continue
            s = st[row]
            task = r["task"]
            for t in sorted({int(v) for v in task[np.isfinite(task)]}):
                sel = (task == t) & np.isfinite(r["pc1"][s])
                ax.scatter(r["pc1"][s][sel], r["pc2"][s][sel], s=10, color=cmap(t % 10),
                           label=f"task {t}", alpha=0.8)
            ev = r["explained"][s] if r["explained"] is not None else None
            evtxt = f", PC1+2 {100 * np.nansum(ev[:2]):.0f}%" if ev is not None else ""
            ax.set_title(f"{m} (seed {r['seed']}), stage {s}\nseparation "
                         f"{r['sep'][s]:.3g}{evtxt}", fontsize=8)
            ax.set_xlabel("PC1", fontsize=8)
            ax.set_ylabel("PC2", fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.legend(fontsize=7, markerscale=1.5)
    fig.suptitle(f"weight-space PCA by task — {bench}", fontsize=10)
    fig.tight_layout()
    path = os.path.join(outdir, f"weightspace_pca_{bench}.png")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_separation(plt, np, runs, bench, outdir, dpi):
    from matplotlib.ticker import MaxNLocator
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], r["config"]), []).append(r)
    common = set.intersection(*(set(c.split()) for _, c in groups)) if groups else set()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (model, config), rs in sorted(groups.items()):
        label = model + (f" {short_config(config, common)}" if short_config(config, common) else "")
        for ax, key in ((a1, "sep"), (a2, "r2")):
            if rs[0][key] is None:
                continue
            ys = np.array([r[key] for r in rs], dtype=float)
            x = np.arange(ys.shape[1])
            ok = np.isfinite(ys).any(axis=0)
            with np.errstate(all="ignore"):
                mean = np.nanmean(ys[:, ok], axis=0)
                std = np.nanstd(ys[:, ok], axis=0, ddof=1)  # sample sd, as clsweep_stats
            ax.errorbar(x[ok], mean, yerr=std if len(rs) > 1 else None, marker="o", ms=3,
                        capsize=2, label=f"{label} (n={len(rs)})")
    a1.set_yscale("log")
    a1.set_ylabel("between / within-task scatter (top-k PCs)")
    a2.set_ylabel("share of top-k PC scatter explained by task")
    a2.set_ylim(0, 1.02)
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("stage")
        ax.grid(alpha=0.3)
    a1.legend(fontsize=7)
    fig.suptitle(f"task separation in weight space vs stage — {bench} "
                 "(mean ± sd over seeds, sample sd ddof 1)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(outdir, f"weightspace_separation_{bench}.png")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def main(argv):
    args = parse_args(argv)
    select = []
    for s in args.select:
        if "=" not in s:
            sys.exit(f"{PROG}: error: --select expects KEY=VALUE, got '{s}'")
        select.append(tuple(s.split("=", 1)))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    runs = load(args.files, select)
    if not runs:
        print(f"{PROG}: no analysed runs in {', '.join(args.files)}", file=sys.stderr)
        return 1
    outdir = args.outdir or os.path.splitext(args.files[0])[0] + "-figures"
    os.makedirs(outdir, exist_ok=True)
    for bench in sorted({r["bench"] for r in runs}):
        rb = [r for r in runs if r["bench"] == bench]
        print(plot_scatter(plt, np, rb, bench, outdir, args.max_stages, args.dpi))
        print(plot_separation(plt, np, rb, bench, outdir, args.dpi))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
