"""aggregate.py — the tidy summary table of one or more clsweep sweep files.

Groups the model runs by configuration (benchmark, model and every swept parameter) over
seeds and writes, for ACC, BWT, FWT, forgetting, retention and every other scalar metric the
models report (bookkeeping extras excluded: clsweep_results.BOOKKEEPING), the mean, the
sample sd (ddof 1) and the 95 % Student-t interval over seeds (clsweep_stats), as CSV (one
row per configuration: <m>_mean, <m>_sd, <m>_ci95_lo, <m>_ci95_hi, <m>_n) and Markdown; then
a paired comparison of every configuration against a baseline (paired t, Wilcoxon, Holm).
Every configuration is listed, also those without a single ok run (diverged, failed,
unsupported), with its run counts by status. Run through the `analysis/aggregate` wrapper,
which picks a Python that has xarray. analysis/report imports build_table/build_paired.
"""
import argparse
import math
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
(diverged/failed/unsupported ones are listed next to it; a configuration with no ok run is
still a row). sd is the sample standard deviation (ddof 1) over seeds, CI the 95 % Student-t
interval of the mean; both are empty with a single seed. Paired comparisons: each
configuration against the best configuration of the baseline model (--baseline, default
finetune when present) on the seeds both finished, diff = configuration − baseline; p-values
two-sided, Holm-corrected across the table. For mse metrics lower is better and
bwt/forgetting follow the sign conventions in the file's `direction` attributes.
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
    p.add_argument("--baseline", metavar="MODEL",
                   help="model whose best configuration the paired comparisons use as "
                   "reference (default: finetune when present, else the first model)")
    p.add_argument("--paired-metric", metavar="M", default="acc",
                   help="metric of the paired comparisons (default acc)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    return p.parse_args(argv)


if __name__ == "__main__":
    # --help and usage errors without the heavy imports; then the right interpreter
    parse_args(sys.argv[1:])
    from _bootstrap import require_analysis_python
    require_analysis_python(PROG)

import clsweep_results as cr  # noqa: E402
import clsweep_stats as st  # noqa: E402


def status_text(rec):
    parts = [f"{rec['n_ok']}/{rec['n_runs']} ok"]
    for s in cr.STATUSES[1:]:
        if rec[f"n_{s}"]:
            parts.append(f"{rec[f'n_{s}']} {s}")
    return ", ".join(parts)


def build_table(runs, metrics, over=()):
    """List of dicts, one per configuration (every one, whatever its runs' status), sorted
    by benchmark, model, swept values. rec["rows"] holds the configuration's runs."""
    # the tuning protocol's phase (1 tune, 2 evaluate) is a column when a file has one
    phase = ["phase"] if "phase" in runs.table else []
    axes = phase + [k for k in runs.axes if k not in over]
    order_b = {b: i for i, b in enumerate(dict.fromkeys(runs.table["benchmark"]))}
    order_m = {m: i for i, m in enumerate(dict.fromkeys(runs.table["model"]))}
    out = []
    for key, sel in cr.groups(runs, over=over):
        rec = {"sweep": key["sweep"], "benchmark": key["benchmark"], "model": key["model"]}
        for k in axes:
            rec[k] = key[k]
        metric_names = [m for m in dict.fromkeys(sel["metric"]) if m]
        rec["metric"] = "/".join(metric_names)
        rec["higher_is_better"] = cr.is_better_high(sel)
        rec["seeds"] = len(set(sel["seed"]))
        rec["n_runs"] = len(sel)
        status = list(sel["status"])
        for s in cr.STATUSES:
            rec[f"n_{s}"] = status.count(s)
        rec["messages"] = sorted({str(m) for m, s in zip(sel["message"], status)
                                  if s != "ok" and m})
        ok = sel[sel["status"] == "ok"]
        rec["rows"] = sel
        for m in metrics:
            rec[m] = st.summarise(ok[m] if m in ok else [])
        out.append(rec)
    order_s = {w: i for i, w in enumerate(dict.fromkeys(runs.table["sweep"]))}
    out.sort(key=lambda r: (order_b.get(r["benchmark"], 0), order_m.get(r["model"], 0),
                            *[cr.sort_value(r[k]) for k in axes],
                            order_s.get(r["sweep"].split("+")[0], 0)))
    return out, axes


def config_text(rec, axes):
    """model (k=v, ...) with the configuration's swept values (not-read keys left out)."""
    parts = [f"{k}={cr.format_value(rec[k])}" for k in axes if rec.get(k) is not None]
    return rec["model"] + (f" ({', '.join(parts)})" if parts else "")


def _bench_settings(rows):
    """The benchmark.* part of a configuration's effective configuration (pairing needs
    the same stream: same benchmark settings and seed)."""
    for c in rows["config"] if "config" in rows else []:
        d = cr.config_dict(c)
        if d:
            return tuple(sorted((k, v) for k, v in d.items() if k.startswith("benchmark.")))
    return ()


def build_paired(table, axes, metric="acc", baseline=None):
    """Paired comparisons, one table per stream (benchmark and its settings): every
    configuration against the best configuration (by mean metric) of the baseline model on
    their shared ok seeds. Returns [dict(title, reference, higher, rows=[(rec, Paired)])];
    a configuration without shared seeds appears with n = 0."""
    streams = {}
    for rec in table:
        streams.setdefault((rec["benchmark"], _bench_settings(rec["rows"])), []).append(rec)
    out = []
    for (bench, _), recs in streams.items():
        models = list(dict.fromkeys(r["model"] for r in recs))
        base = baseline if baseline in models else ("finetune" if "finetune" in models
                                                    else models[0])
        if baseline and baseline not in models:
            continue
        higher = cr.higher_is_better(metric, recs[0]["higher_is_better"])
        higher = True if higher is None else higher   # the metric's direction, not R's
        cands = [r for r in recs if r["model"] == base and metric in r and r[metric].n]
        if not cands:
            continue
        ref = max(cands, key=lambda r: r[metric].mean if higher else -r[metric].mean)
        pairs, others = [], []
        ref_ok = ref["rows"][ref["rows"]["status"] == "ok"]
        for rec in recs:
            if rec is ref:
                continue
            ok = rec["rows"][rec["rows"]["status"] == "ok"]
            _, a, b = st.pair_by_seed(ref_ok, ok, metric) if metric in ok else ([], [], [])
            pairs.append((id(rec), a, b))
            others.append(rec)
        res = st.paired_table(pairs)
        out.append({"benchmark": bench, "reference": ref, "higher": higher, "metric": metric,
                    "rows": [(rec, p) for rec, (_, p) in zip(others, res)]})
    return out


def column_decimals(table, m):
    """One number of decimals for a metric's column: 2 significant digits of its smallest
    sd, at least 3 significant digits of its largest mean."""
    sds = [r[m].sd for r in table if r[m].n > 1]
    means = [r[m].mean for r in table if r[m].n]
    d = st.decimals_for(sds, sig=2) if sds else 3
    big = max((abs(x) for x in means if x == x), default=1.0)
    if big > 0:
        d = max(d, min(6, 2 - int(math.floor(math.log10(big)))))
    return d


STAT_FIELDS = (("mean", "mean"), ("sd", "sd"), ("ci95_lo", "lo"), ("ci95_hi", "hi"), ("n", "n"))


def write_csv(path, table, axes, metrics):
    import csv
    cols = [(c, lambda r, c=c: r[c]) for c in
            ["sweep", "benchmark", "model", *axes, "metric", "seeds", "n_runs"]
            + [f"n_{s}" for s in cr.STATUSES]]
    for m in metrics:
        cols += [(f"{m}_{suffix}", lambda r, m=m, a=attr: getattr(r[m], a))
                 for suffix, attr in STAT_FIELDS]
    cols.append(("messages", lambda r: " | ".join(r["messages"])))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c for c, _ in cols])
        for rec in table:
            row = []
            for _, get in cols:
                v = get(rec)
                if v is None or (isinstance(v, float) and v != v):
                    row.append("")
                elif isinstance(v, float):
                    row.append(repr(v))
                else:
                    row.append(v)
            w.writerow(row)


def markdown(table, axes, metrics, runs, paired=()):
    multi_bench = len({r["benchmark"] for r in table}) > 1
    multi_sweep = len({r["sweep"] for r in table}) > 1
    head = ((["sweep"] if multi_sweep else []) + (["benchmark"] if multi_bench else [])
            + ["model", *axes, "runs", *metrics])
    lines = [f"# clsweep summary: {', '.join(dict.fromkeys(runs.sweep_names))}", ""]
    bench = sorted({r["benchmark"] for r in table if r["benchmark"]})
    metric_kinds = sorted({r["metric"] for r in table if r["metric"]})
    lines.append(f"Benchmark(s): {', '.join(bench) or '–'}; metric of R: "
                 f"{', '.join(metric_kinds) or '–'}. Cells: mean ± {st.SD_LABEL} over seeds "
                 "of the runs with status ok (the CSV also has the "
                 f"{st.CI_LABEL}); '–' = not read / no ok run.")
    lines.append("")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" if h in ("sweep", "benchmark", "model", "runs") else "---:"
                                for h in head) + "|")
    dec = {m: column_decimals(table, m) for m in metrics}
    for rec in table:
        cells = ([rec["sweep"]] if multi_sweep else []) + ([rec["benchmark"]] if multi_bench else [])
        cells.append(rec["model"])
        cells += [cr.format_value(rec[k]) for k in axes]
        cells.append(status_text(rec))
        for m in metrics:
            s = rec[m]
            if not s.n:
                cells.append("–")
            elif s.n < 2:
                cells.append(st.fmt_fixed(s.mean, dec[m]))
            else:
                cells.append(f"{st.fmt_fixed(s.mean, dec[m])} ± {st.fmt_fixed(s.sd, dec[m])}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    for ptab in paired:
        lines += paired_markdown(ptab, axes)
    return "\n".join(lines)


def paired_markdown(ptab, axes):
    ref, m = ptab["reference"], ptab["metric"]
    better = "higher" if ptab["higher"] else "lower"
    diffs = [p for _, p in ptab["rows"]]
    d = st.decimals_for([abs(p.diff) for p in diffs if p.n] + [p.sd_diff for p in diffs if p.n > 1], sig=2)
    lines = [f"## Paired comparisons on {ptab['benchmark']}: {m} against "
             f"{config_text(ref, axes)}", "",
             f"diff = configuration − reference per shared seed ({better} {m} is better), "
             "mean with its 95 % t interval; d_z = mean/sd of the differences; p two-sided, "
             f"Holm-corrected over the {len(diffs)} comparison(s) of this table.", "",
             "| configuration | n | reference mean | configuration mean | diff [95 % CI] | d_z | "
             "p (paired t, Holm) | p (Wilcoxon, Holm) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rec, p in ptab["rows"]:
        if not p.n:
            lines.append(f"| {config_text(rec, axes)} | 0 | – | – | no shared ok seed "
                         f"({status_text(rec)}) | – | – | – |")
            continue
        ci = (f" [{st.fmt_fixed(p.lo, d)}, {st.fmt_fixed(p.hi, d)}]" if p.n > 1 else "")
        lines.append(f"| {config_text(rec, axes)} | {p.n} | {st.fmt_fixed(p.mean_a, d)} | "
                     f"{st.fmt_fixed(p.mean_b, d)} | {p.diff:+.{d}f}{ci} | "
                     f"{'–' if p.dz != p.dz else f'{p.dz:.2f}'} | {st.fmt_p(p.p_t_holm)} | "
                     f"{st.fmt_p(p.p_w_holm)} |")
    lines.append("")
    return lines


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
            bad = [m for m in metrics if m not in runs.table or cr.is_bookkeeping(m)]
            if bad:
                return cr.fail(PROG, f"--metrics: {', '.join(bad)} not a metric of these files "
                               f"(available: {', '.join(runs.metrics)})")
        else:
            metrics = runs.metrics
        if runs.table.empty:
            return cr.fail(PROG, "the file(s) hold no finished runs")
        if args.paired_metric not in runs.metrics:
            return cr.fail(PROG, f"--paired-metric {args.paired_metric}: not a metric of these "
                           f"files (available: {', '.join(runs.metrics)})")
        if args.baseline and args.baseline not in set(runs.table["model"]):
            return cr.fail(PROG, f"--baseline {args.baseline}: no such model in these files "
                           f"(models: {', '.join(dict.fromkeys(runs.table['model']))})")
        table, axes = build_table(runs, metrics, args.over)
        paired = build_paired(table, axes, args.paired_metric, args.baseline)
        prefix = args.out or os.path.splitext(args.files[0])[0] + ".summary"
        csv_path = args.csv or prefix + ".csv"
        md_path = args.md or prefix + ".md"
        text = markdown(table, axes, metrics, runs, paired)
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
