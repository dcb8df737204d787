"""aggregate.py — the tidy summary table of one or more clsweep sweep files.

Groups the model runs by configuration (benchmark, model and every swept parameter) over
seeds and writes mean ± std of ACC, BWT, FWT, forgetting, retention and every other scalar
metric the models report, as CSV (one row per configuration, <metric>_mean/<metric>_std
columns) and Markdown. Run through the `analysis/aggregate` wrapper, which picks a Python
that has xarray.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROG = "analysis/aggregate"

EPILOG = """\
examples:
  analysis/aggregate results/gated.nc
      writes results/gated.summary.csv and results/gated.summary.md, prints the table
  analysis/aggregate part0.nc part1.nc --out results/summary --metrics acc,forgetting
  analysis/aggregate results/ewc.nc --over train.lr       # also average over train.lr

Statistics use only runs with status ok; `runs` counts every run of the configuration
(diverged/failed/unsupported ones are listed next to it). std is the sample standard
deviation (ddof 1) over seeds; it is empty with a single seed. For mse metrics lower R is
better and bwt/forgetting follow the sign conventions in the file's `direction` attributes.
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="Mean ± std over seeds of every metric, per model and swept "
        "parameter, from clsweep sweep files (NetCDF).", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.nc", help="clsweep sweep file(s)")
    p.add_argument("-o", "--out", metavar="PREFIX",
                   help="write PREFIX.csv and PREFIX.md (default: FIRST_FILE without .nc + "
                   "'.summary')")
    p.add_argument("--csv", metavar="PATH", help="CSV path (overrides --out)")
    p.add_argument("--md", metavar="PATH", help="Markdown path (overrides --out)")
    p.add_argument("--metrics", metavar="LIST",
                   help="comma-separated metrics (default: acc,bwt,fwt,forgetting and every "
                   "scalar extra present, e.g. retention)")
    p.add_argument("--over", metavar="KEY", action="append", default=[],
                   help="also average over this swept key, like over seeds (repeatable)")
    p.add_argument("--digits", type=int, default=4,
                   help="significant digits in the Markdown table (default 4)")
    p.add_argument("--ddof", type=int, default=1, choices=[0, 1],
                   help="delta degrees of freedom of std (default 1: sample std)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    return p.parse_args(argv)


if __name__ == "__main__":
    # --help and usage errors without the heavy imports; then the right interpreter
    parse_args(sys.argv[1:])
    from _bootstrap import require_analysis_python
    require_analysis_python(PROG)

import clsweep_results as cr  # noqa: E402


def status_text(rec):
    parts = [f"{rec['n_ok']}/{rec['n_runs']} ok"]
    for s in ("diverged", "failed", "unsupported"):
        if rec[f"n_{s}"]:
            parts.append(f"{rec[f'n_{s}']} {s}")
    return ", ".join(parts)


def build_table(runs, metrics, over=(), ddof=1):
    """List of dicts, one per configuration, sorted by benchmark, model, swept values."""
    axes = [k for k in runs.axes if k not in over]
    order_b = {b: i for i, b in enumerate(dict.fromkeys(runs.table["benchmark"]))}
    order_m = {m: i for i, m in enumerate(dict.fromkeys(runs.table["model"]))}
    out = []
    for key, sel in cr.groups(runs, over=over):
        rec = {"sweep": key["sweep"], "benchmark": key["benchmark"], "model": key["model"]}
        for k in axes:
            rec[k] = key[k]
        metric_names = [m for m in dict.fromkeys(sel["metric"]) if m]
        rec["metric"] = "/".join(metric_names)
        rec["seeds"] = len(set(sel["seed"]))
        rec["n_runs"] = len(sel)
        status = list(sel["status"])
        for s in ("ok", "diverged", "failed", "unsupported"):
            rec[f"n_{s}"] = status.count(s)
        ok = sel[sel["status"] == "ok"]
        for m in metrics:
            mean, std, n = cr.summarise(ok[m] if m in ok else [], ddof=ddof)
            rec[f"{m}_mean"], rec[f"{m}_std"] = mean, std
        out.append(rec)
    order_s = {w: i for i, w in enumerate(dict.fromkeys(runs.table["sweep"]))}
    out.sort(key=lambda r: (order_b.get(r["benchmark"], 0), order_m.get(r["model"], 0),
                            *[cr.sort_value(r[k]) for k in axes],
                            order_s.get(r["sweep"].split("+")[0], 0)))
    return out, axes


def fmt(x, digits):
    return "" if x != x else f"{x:.{digits}g}"


def write_csv(path, table, axes, metrics):
    import csv
    cols = ["sweep", "benchmark", "model", *axes, "metric", "seeds", "n_runs", "n_ok", "n_diverged",
            "n_failed", "n_unsupported"]
    for m in metrics:
        cols += [f"{m}_mean", f"{m}_std"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for rec in table:
            row = []
            for c in cols:
                v = rec[c]
                if v is None or (isinstance(v, float) and v != v):
                    row.append("")
                elif isinstance(v, float):
                    row.append(repr(v))
                else:
                    row.append(v)
            w.writerow(row)


def markdown(table, axes, metrics, runs, digits, ddof):
    multi_bench = len({r["benchmark"] for r in table}) > 1
    multi_sweep = len({r["sweep"] for r in table}) > 1
    head = ((["sweep"] if multi_sweep else []) + (["benchmark"] if multi_bench else [])
            + ["model", *axes, "runs", *metrics])
    lines = [f"# clsweep summary: {', '.join(dict.fromkeys(runs.sweep_names))}", ""]
    bench = sorted({r["benchmark"] for r in table if r["benchmark"]})
    metric_kinds = sorted({r["metric"] for r in table if r["metric"]})
    lines.append(f"Benchmark(s): {', '.join(bench) or '–'}; metric of R: "
                 f"{', '.join(metric_kinds) or '–'}. Cells: mean ± std over seeds "
                 f"(ddof {ddof}) of the runs with status ok; '–' = not read / no value.")
    lines.append("")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" if h in ("sweep", "benchmark", "model", "runs") else "---:"
                                for h in head) + "|")
    for rec in table:
        cells = ([rec["sweep"]] if multi_sweep else []) + ([rec["benchmark"]] if multi_bench else [])
        cells.append(rec["model"])
        cells += [cr.format_value(rec[k]) for k in axes]
        cells.append(status_text(rec))
        for m in metrics:
            mean, std = rec[f"{m}_mean"], rec[f"{m}_std"]
            if mean != mean:
                cells.append("–")
            elif std != std:
                cells.append(fmt(mean, digits))
            else:
                cells.append(f"{fmt(mean, digits)} ± {fmt(std, digits)}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        runs = cr.Runs(args.files)
    except cr.NotASweepFile as e:
        return cr.fail(PROG, e)
    try:
        if runs.duplicates:
            print(f"{PROG}: {runs.duplicates} run(s) found in more than one file were counted "
                  "once", file=sys.stderr)
        unknown = [k for k in args.over if k not in runs.axes]
        if unknown:
            return cr.fail(PROG, f"--over {', '.join(unknown)}: not a swept key of these "
                           f"files (swept: {', '.join(runs.axes) or 'none'})")
        if args.metrics:
            metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
            bad = [m for m in metrics if m not in runs.table]
            if bad:
                return cr.fail(PROG, f"--metrics: {', '.join(bad)} not in these files "
                               f"(available: {', '.join(runs.metrics)})")
        else:
            metrics = runs.metrics
        if runs.table.empty:
            return cr.fail(PROG, "the file(s) hold no finished runs")
        table, axes = build_table(runs, metrics, args.over, args.ddof)
        prefix = args.out or os.path.splitext(args.files[0])[0] + ".summary"
        csv_path = args.csv or prefix + ".csv"
        md_path = args.md or prefix + ".md"
        text = markdown(table, axes, metrics, runs, args.digits, args.ddof)
        for path in (csv_path, md_path):
            d = os.path.dirname(path)
            if d:
                os.makedirs(d, exist_ok=True)
        write_csv(csv_path, table, axes, metrics)
        with open(md_path, "w") as f:
            f.write(text)
        if not args.quiet:
            print(text)
        print(f"{PROG}: {len(table)} configuration(s) from {len(runs.table)} run(s) -> "
              f"{csv_path}, {md_path}", file=sys.stderr)
        return 0
    except OSError as e:
        return cr.fail(PROG, e)
    finally:
        runs.close()


if __name__ == "__main__":
    sys.exit(main())
