"""plot_stability_gap.py — the stability-gap figure from the anytime curves of clsweep sweep
files (R_curve, curve_stage, curve_step: runs with eval.every > 0), and the gap numbers.

Per benchmark, one figure (SVG, PNG or PDF by the extension of --out) with two panels over
the optimiser steps of the whole stream (task switches dotted):
  (a) the metric on one task (--task, default the first) at every curve point;
  (b) the mean metric over the old tasks at each point: those trained in an earlier stage
      and not in the current one (the tasks whose drop right after a switch is the stability
      gap of De Lange et al. 2023).
One line per configuration (model and the swept keys that vary; seeds averaged): the mean
over seeds with a band of ± one sample sd (ddof 1). Runs without a curve are skipped.
Prints, per configuration, a Markdown table of the stored per-run metrics (mean ± sd over
seeds): stability_gap, gap_recovery, anytime_acc, lca and the gap at each switch
(stability_gap_stage); --table PATH also writes it. Run through the
`analysis/plot_stability_gap` wrapper, which picks a Python that has matplotlib.
"""
import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROG = "analysis/plot_stability_gap"
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
             "#000000"]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="The stability-gap figure (anytime curves, mean ± sd over "
        "seeds) and the gap numbers from clsweep sweep files.",
        epilog="example: analysis/plot_stability_gap results/stability_gap.nc "
        "-o docs/figures/stability_gap.svg --table docs/results/stability_gap.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.nc", help="clsweep sweep file(s)")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="figure path, .svg/.png/.pdf (default: FIRST_FILE without .nc + "
                   "'_stability_gap.svg'); with several benchmarks '_<bench>' is inserted")
    p.add_argument("--table", metavar="PATH", help="also write the Markdown table here")
    p.add_argument("--task", type=int, default=0, help="task of panel (a) (default 0)")
    p.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose configuration has this value (repeatable)")
    return p.parse_args(argv)


def run_curve(runs, row):
    """(x, stage, Rc) of one run: x = optimiser steps since the start of the stream; None
    when the run has no curve."""
    import numpy as np
    Rc, st, sp = (runs.array(row, n) for n in ("R_curve", "curve_stage", "curve_step"))
    if Rc is None or st is None or sp is None:
        return None
    keep = np.isfinite(st) & np.isfinite(sp)
    if not keep.any():
        return None
    st, sp, Rc = st[keep].astype(int), sp[keep], Rc[keep][:, : int(row["ntasks"])]
    offset, x = {}, np.empty(len(sp))
    total = 0.0
    for i, (s, k) in enumerate(zip(st, sp)):
        if s not in offset:
            offset[s] = total
        x[i] = offset[s] + k
        total = max(total, x[i])
    return x, st, Rc


def old_mean(st, Rc):
    """Per point: the mean over the old tasks (trained before the point's stage, not at it;
    clsweep's curricula train task s mod T at stage s)."""
    import numpy as np
    T = Rc.shape[1]
    out = np.full(len(st), np.nan)
    for i, s in enumerate(st):
        old = {k % T for k in range(s)} - {s % T}
        if old:
            out[i] = np.mean([Rc[i, j] for j in sorted(old)])
    return out


def mean_sd(rows):
    import numpy as np
    L = min(len(r) for r in rows)
    a = np.array([r[:L] for r in rows], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(a, axis=0)
        sd = np.nanstd(a, axis=0, ddof=1) if len(rows) > 1 else np.zeros(L)
    return m, sd


def fmt(vals):
    import numpy as np
    v = np.asarray([x for x in vals if np.isfinite(x)], dtype=float)
    if not v.size:
        return "–"
    if v.size == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from _bootstrap import require_analysis_python
    require_analysis_python(PROG)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import clsweep_results as cr
    plt.rcParams["svg.hashsalt"] = "clsweep"   # reproducible SVG ids
    select = []
    for s in args.select:
        if "=" not in s:
            print(f"{PROG}: error: --select {s}: expected KEY=VALUE", file=sys.stderr)
            return 2
        select.append(tuple(s.split("=", 1)))
    try:
        runs = cr.Runs(args.files)
    except cr.NotASweepFile as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    df = runs.table
    if "R_curve" not in runs.arrays:
        print(f"{PROG}: error: no anytime curve in {', '.join(args.files)} (run with "
              "eval.every > 0)", file=sys.stderr)
        return 2
    keep = [all(cr.config_dict(c).get(k) == v for k, v in select) for c in df["config"]]
    df = df[(df["status"] == "ok") & np.array(keep, dtype=bool)]
    benches = list(dict.fromkeys(df["benchmark"]))
    base = args.out or os.path.splitext(args.files[0])[0] + "_stability_gap.svg"
    lines = []
    for bench in benches:
        bdf = df[df["benchmark"] == bench]
        vary = runs.varying_axes(bdf, exclude=("seed",))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained", sharey=True)
        lines += [f"**{bench}** (mean ± sd over seeds; gap = drop of old-task {bdf['metric'].iloc[0]}"
                  " right after a task switch, recovery = regained by the stage's end)", "",
                  "| configuration | seeds | stability gap | recovery | gap per switch | "
                  "anytime acc | LCA | ACC |", "|---|---|---|---|---|---|---|---|"]
        drawn, bounds = 0, None
        for key, sel in cr.groups(runs, bdf):
            curves = [c for c in (run_curve(runs, r) for _, r in sel.iterrows()) if c is not None]
            if not curves:
                continue
            label = key["model"] + "".join(f", {k}={key[k]}" for k in vary if key.get(k) is not None)
            color = OKABE_ITO[drawn % len(OKABE_ITO)]
            x = curves[0][0][: min(len(c[0]) for c in curves)]
            t = min(args.task, curves[0][2].shape[1] - 1)
            for ax, ys in ((axes[0], [c[2][:, t] for c in curves]),
                           (axes[1], [old_mean(c[1], c[2]) for c in curves])):
                m, sd = mean_sd(ys)
                ax.plot(x, m[: len(x)], color=color, lw=1.3, label=f"{label} (n={len(curves)})")
                ax.fill_between(x, (m - sd)[: len(x)], (m + sd)[: len(x)], color=color, alpha=0.18,
                                lw=0)
            if bounds is None:
                st = curves[0][1][: len(x)]
                bounds = [x[i - 1] for i in range(1, len(x)) if st[i] != st[i - 1]]
            gs = [runs.array(r, "stability_gap_stage") for _, r in sel.iterrows()]
            gs = [g for g in gs if g is not None]
            per = "–"
            if gs:
                L = min(len(g) for g in gs)
                per = ", ".join(fmt([g[s] for g in gs]) for s in range(1, L)
                                if any(np.isfinite(g[s]) for g in gs))
            cols = [fmt(sel[m]) if m in sel else "–"
                    for m in ("stability_gap", "gap_recovery", "anytime_acc", "lca", "acc")]
            lines.append(f"| {label} | {len(curves)} | {cols[0]} | {cols[1]} | {per} | "
                         f"{cols[2]} | {cols[3]} | {cols[4]} |")
            drawn += 1
        lines.append("")
        if not drawn:
            plt.close(fig)
            print(f"{PROG}: {bench}: no run with an anytime curve", file=sys.stderr)
            continue
        metric = bdf["metric"].iloc[0]
        for ax, title in ((axes[0], f"(a) {metric} on task {args.task + 1}"),
                          (axes[1], f"(b) mean {metric} on the old tasks")):
            for b in bounds or []:
                ax.axvline(b, color="0.5", ls=":", lw=0.8)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("optimiser steps (dotted: task switches)")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(f"{metric} on the curve's test subset (higher is better)"
                           if bdf["higher_is_better"].iloc[0] else f"{metric} (lower is better)",
                           fontsize=8)
        axes[1].legend(fontsize=7, loc="lower left", frameon=False)
        fig.suptitle(f"{bench}: anytime curves, mean ± sd over seeds (stability gap: the dip "
                     "right after each switch)", fontsize=9)
        out = base
        if len(benches) > 1:
            stem, ext = os.path.splitext(base)
            out = f"{stem}_{bench}{ext}"
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        fig.savefig(out, metadata={"Date": None} if out.endswith(".svg") else None)
        plt.close(fig)
        print(f"{PROG}: wrote {out}", file=sys.stderr)
    text = "\n".join(lines)
    print(text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    runs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
