"""report.py — one self-contained HTML page per sweep from clsweep sweep files.

    analysis/report FILE.nc [FILE.nc ...] -o DIR      → DIR/<sweep>.html, one per sweep name

A page holds: the run counts by status, the summary tables (mean ± sample sd and the 95 % t
interval over seeds), the paired comparisons (paired t, Wilcoxon, Holm, d_z; from
aggregate.build_paired), every figure analysis/plot draws (PNG, inlined as data: URIs), a
sortable per-run table with every run — failed, diverged and unsupported ones with their
messages — and the sweep file (global attribute sweep_yaml). Nothing is loaded from the
network: no external CSS, JS, fonts or images; the page carries a Content-Security-Policy
that forbids any fetch (default-src 'none'; images only from data:). Statistics come from
clsweep_stats, tables from aggregate, figures from plot: this file only lays them out.
Run through the `analysis/report` wrapper, which picks a Python that has xarray.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROG = "analysis/report"
EPILOG = """\
examples:
  analysis/report results/quickstart.nc -o results/report      → results/report/quickstart.html
  analysis/report results/a.part*.nc -o report --baseline ewc --paired-metric forgetting

Several files of one sweep (shards, or a merged file and its parts) make one page; files of
different sweeps make one page each. Open the page in any browser; it needs no server and
no network.
"""
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="A self-contained HTML report per sweep: status counts, "
        "tables with confidence intervals, paired tests, every figure, all runs.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.nc", help="clsweep sweep file(s)")
    p.add_argument("-o", "--outdir", metavar="DIR", required=True, help="output directory")
    p.add_argument("--baseline", metavar="MODEL",
                   help="reference model of the paired comparisons (default finetune, else "
                   "the first model)")
    p.add_argument("--paired-metric", metavar="M", action="append", default=[],
                   help="metric of the paired comparisons (repeatable; default acc and "
                   "forgetting)")
    p.add_argument("--max-lines", type=int, default=6,
                   help="most configurations per model in a figure (default 6)")
    p.add_argument("--no-figures", action="store_true", help="leave the figures out")
    return p.parse_args(argv)


if __name__ == "__main__":
    parse_args(sys.argv[1:])
    from _bootstrap import require_analysis_python
    require_analysis_python(PROG)

import base64  # noqa: E402
import html  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402

import aggregate  # noqa: E402
import clsweep_results as cr  # noqa: E402
import clsweep_stats as st  # noqa: E402
import plot  # noqa: E402

STATUS_COLOUR = {"ok": "#1a7f37", "diverged": "#b2182b", "failed": "#6e4b00",
                 "unsupported": "#57606a", "pruned": "#57606a"}

STYLE = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#ffffff;--soft:#f6f8fa;--acc:#0072B2}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,"Segoe UI","DejaVu Sans",Helvetica,Arial,sans-serif;
 color:var(--fg);background:var(--bg)}
header{background:#0b2540;color:#fff;padding:22px 40px 18px}
header h1{margin:0 0 4px;font-size:24px;font-weight:600}
header .sub{color:#c9d6e3;font-size:13px}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:8px 40px;
 z-index:2;font-size:13px}
nav a{color:var(--acc);text-decoration:none;margin-right:18px}
main{padding:8px 40px 40px;max-width:1500px}
h2{font-size:19px;margin:30px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
p.note{color:var(--muted);font-size:12.5px;margin:4px 0 10px;max-width:1100px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:120px;
 background:var(--soft)}
.card .n{font-size:24px;font-weight:600}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tw{overflow-x:auto;margin:6px 0 14px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:var(--soft);font-weight:600;position:relative;white-space:normal;min-width:56px;
 max-width:190px;vertical-align:bottom}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td .ci{color:var(--muted);font-size:11.5px}
tr:hover td{background:#f0f6fc}
.badge{display:inline-block;padding:0 7px;border-radius:10px;color:#fff;font-size:12px}
.msg{white-space:normal;max-width:520px;color:#6e4b00;font-size:12px}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:after{content:" \\2195";color:#aab4bf;font-size:11px}
table.sortable th.asc:after{content:" \\2191";color:var(--fg)}
table.sortable th.desc:after{content:" \\2193";color:var(--fg)}
figure{margin:14px 0 26px;border:1px solid var(--line);border-radius:8px;padding:12px;
 background:#fff;max-width:100%}
figure img{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:12.5px;margin-top:6px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:12px;
 overflow-x:auto;font-size:12.5px}
.sig{font-weight:600}
footer{color:var(--muted);font-size:12px;padding:16px 40px;border-top:1px solid var(--line)}
"""

SORT_JS = """
window.addEventListener('load',function(){
  var im=document.querySelectorAll('img'),ok=0;
  im.forEach(function(i){if(i.complete&&i.naturalWidth>0)ok++;});
  document.body.setAttribute('data-images-loaded',ok+'/'+im.length);
});
document.body.setAttribute('data-sort','ready');
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('asc');
      t.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});
      th.classList.add(asc?'asc':'desc');
      var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
      var key=function(r){var c=r.cells[i],v=c.getAttribute('data-v');return v===null?c.textContent:v;};
      var num=rows.every(function(r){var v=key(r);return v===''||!isNaN(parseFloat(v));});
      rows.sort(function(a,c){var x=key(a),y=key(c);
        if(num){x=x===''?Infinity:parseFloat(x);y=y===''?Infinity:parseFloat(y);
          return asc?(x-y):(y-x);}
        return asc?x.localeCompare(y):y.localeCompare(x);});
      rows.forEach(function(r){b.appendChild(r);});
    });
  });
});
"""


def esc(x):
    return html.escape(str(x), quote=True)


def badge(status, count=None):
    c = STATUS_COLOUR.get(status, "#57606a")
    text = status if count is None else f"{status} {count}"
    return f'<span class="badge" style="background:{c}">{esc(text)}</span>'


def table_html(head, rows, cls="", num=()):
    """head: list of header texts; rows: list of lists of (html, data-v or None)."""
    out = [f'<div class="tw"><table class="{cls}"><thead><tr>']
    for i, h in enumerate(head):
        out.append(f'<th class="{"num" if i in num else ""}">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>")
        for i, (cell, v) in enumerate(r):
            dv = "" if v is None else f' data-v="{esc(v)}"'
            out.append(f'<td class="{"num" if i in num else ""}"{dv}>{cell}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def status_section(runs):
    t = runs.table
    models = list(dict.fromkeys(t["model"]))
    cards = [f'<div class="card"><div class="n">{len(t)}</div><div class="l">runs</div></div>']
    for s in cr.STATUSES:
        n = int((t["status"] == s).sum())
        col = STATUS_COLOUR[s] if n and s != "ok" else "inherit"
        cards.append(f'<div class="card"><div class="n" style="color:{col}">{n}</div>'
                     f'<div class="l">{esc(s)}</div></div>')
    rows = []
    for m in models:
        mt = t[t["model"] == m]
        cells = [(esc(m), None)]
        for s in cr.STATUSES:
            n = int((mt["status"] == s).sum())
            cells.append((badge(s, n) if n and s != "ok" else str(n), n))
        cells.append((str(len(mt)), len(mt)))
        rows.append(cells)
    return ('<div class="cards">' + "".join(cards) + "</div>"
            + table_html(["model", *cr.STATUSES, "total"], rows,
                         num=range(1, len(cr.STATUSES) + 2)))


def summary_section(table, axes, metrics):
    out = []
    benches = list(dict.fromkeys(r["benchmark"] for r in table))
    for bench in benches:
        recs = [r for r in table if r["benchmark"] == bench]
        dec = {m: aggregate.column_decimals(recs, m) for m in metrics}
        high = recs[0]["higher_is_better"]
        head = ["model", *axes, "runs"] + [cr.metric_label(m, high) for m in metrics]
        rows = []
        for r in recs:
            cells = [(esc(r["model"]), None)]
            cells += [(esc(cr.format_value(r[k])), "" if r[k] is None else r[k]) for k in axes]
            st_html = esc(aggregate.status_text(r))
            if r["n_ok"] < r["n_runs"]:
                st_html = (f'{st_html}<div class="msg">{esc(" | ".join(r["messages"]))}</div>'
                           if r["messages"] else st_html)
            cells.append((st_html, r["n_ok"]))
            for m in metrics:
                s = r[m]
                if not s.n:
                    cells.append(("–", ""))
                    continue
                txt = st.fmt_fixed(s.mean, dec[m])
                if s.n > 1:
                    txt += (f" ± {st.fmt_fixed(s.sd, dec[m])}<div class=\"ci\">"
                            f"[{st.fmt_fixed(s.lo, dec[m])}, {st.fmt_fixed(s.hi, dec[m])}]"
                            f" n={s.n}</div>")
                cells.append((txt, s.mean))
            rows.append(cells)
        out.append(f"<h3>{esc(bench)}</h3>")
        out.append(table_html(head, rows, "sortable",
                              num=range(1 + len(axes) + 1, len(head))))
    return "".join(out)


def paired_section(paired, axes):
    out = []
    if not paired:
        return '<p class="note">No paired comparison: no configuration of the reference ' \
               'model finished ok.</p>'
    for pt in paired:
        ref, m = pt["reference"], pt["metric"]
        better = "higher" if pt["higher"] else "lower"
        ps = [p for _, p in pt["rows"]]
        d = st.decimals_for([abs(p.diff) for p in ps if p.n]
                            + [p.sd_diff for p in ps if p.n > 1], sig=2)
        out.append(f"<h3>{esc(pt['benchmark'])}: {esc(m)} against "
                   f"{esc(aggregate.config_text(ref, axes))}</h3>")
        out.append(f'<p class="note">diff = configuration − reference per shared seed '
                   f'({better} {esc(m)} is better); mean difference with its 95 % t interval; '
                   f'd_z = mean/sd of the differences; p two-sided, Holm-corrected over the '
                   f'{len(ps)} comparison(s) of this table. With n seeds the Wilcoxon test '
                   f'cannot go below p = 2/2<sup>n</sup> (0.25 for n = 3): use more seeds '
                   f'for a decision.</p>')
        rows = []
        for rec, p in pt["rows"]:
            label = esc(aggregate.config_text(rec, axes))
            if not p.n:
                rows.append([(label, None), ("0", 0),
                             (f"no shared ok seed ({esc(aggregate.status_text(rec))})", "")]
                            + [("–", "")] * 5)
                continue
            sig = p.p_t_holm < 0.05 if p.p_t_holm == p.p_t_holm else False
            ci = (f'<div class="ci">[{st.fmt_fixed(p.lo, d)}, {st.fmt_fixed(p.hi, d)}]</div>'
                  if p.n > 1 else "")
            rows.append([(label, None), (str(p.n), p.n),
                         (f'<span class="{"sig" if sig else ""}">{p.diff:+.{d}f}</span>{ci}',
                          p.diff),
                         (st.fmt_fixed(p.mean_a, d), p.mean_a), (st.fmt_fixed(p.mean_b, d), p.mean_b),
                         ("–" if p.dz != p.dz else f"{p.dz:.2f}", "" if p.dz != p.dz else p.dz),
                         (st.fmt_p(p.p_t_holm), "" if p.p_t_holm != p.p_t_holm else p.p_t_holm),
                         (st.fmt_p(p.p_w_holm), "" if p.p_w_holm != p.p_w_holm else p.p_w_holm)])
        out.append(table_html(["configuration", "n", "diff [95 % CI]", "reference mean",
                               "configuration mean",
                               "d_z", "p paired t (Holm)", "p Wilcoxon (Holm)"], rows,
                              "sortable", num=range(1, 8)))
    return "".join(out)


def runs_section(runs, metrics):
    t = runs.tidy()
    params = t.attrs["params"]
    cols = ["run_id", "model", "seed", *params, "status", *metrics, "wall_seconds", "message"]
    rows = []
    dec = {m: st.decimals_for([v for v in t[m] if v == v], sig=3) if m in t else 3
           for m in metrics}
    for _, r in t.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "status":
                cells.append((badge(v), v))
            elif c == "message":
                cells.append((f'<div class="msg">{esc(v or "")}</div>', v or ""))
            elif c in metrics or c == "wall_seconds":
                fv = float(v) if v is not None else math.nan
                d = dec.get(c, 2)
                cells.append((st.fmt_fixed(fv, d), "" if fv != fv else fv))
            elif c in params:
                txt = cr.format_value(v) if v != cr.NOT_READ else '<span class="ci">not read</span>'
                cells.append((txt if v == cr.NOT_READ else esc(txt),
                              "" if v == cr.NOT_READ else v))
            else:
                cells.append((esc(v), v))
        rows.append(cells)
    num = [i for i, c in enumerate(cols) if c in metrics or c in ("seed", "wall_seconds")]
    return table_html(cols, rows, "sortable runs", num=num)


def figures_section(runs, args, files):
    pargs = plot.parse_args(list(files) + ["-o", "unused", "--format", "png",
                                           "--max-lines", str(args.max_lines),
                                           "--regime-metric", "all"])
    metrics = [m for m in ("acc", "forgetting", "retention") if m in runs.metrics]
    out = []
    with tempfile.TemporaryDirectory(prefix="clsweep-report-") as tmp:
        p = plot.draw_all(runs, pargs, runs.table, metrics, tmp)
        for path in p.written:
            with open(path, "rb") as f:
                data = base64.b64encode(f.read()).decode()
            name = os.path.splitext(os.path.basename(path))[0]
            out.append(f'<figure id="fig-{esc(name)}"><img alt="{esc(name)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{esc(name)}'
                       f'</figcaption></figure>')
    return "".join(out), len(out)


def page(files, args):
    runs = cr.Runs(files)
    try:
        t = runs.table
        name = runs.sweep_names[0]
        yaml_text = str(runs.datasets[0].attrs.get("sweep_yaml", "")) or "(not recorded)"
        version = runs.datasets[0].attrs.get("clsweep_version", "?")
        metrics = runs.metrics
        table, axes = aggregate.build_table(runs, metrics)
        if args.baseline and args.baseline not in set(t["model"]):
            raise ValueError(f"--baseline {args.baseline}: no such model in these files "
                             f"(models: {', '.join(dict.fromkeys(t['model']))})")
        want = args.paired_metric or ["acc", "forgetting"]
        bad = [m for m in want if m not in metrics]
        if args.paired_metric and bad:
            raise ValueError(f"--paired-metric {', '.join(bad)}: not a metric of these files "
                             f"(available: {', '.join(metrics)})")
        paired = [tab for m in want if m in metrics
                  for tab in aggregate.build_paired(table, axes, m, args.baseline)]
        figs, nfig = ("", 0) if args.no_figures else figures_section(runs, args, files)
        seeds = sorted({int(s) for s in t["seed"] if s == s})
        total = sum(int(ds.attrs.get("n_runs_total", 0)) for ds in runs.datasets[:1])
        benches = ", ".join(dict.fromkeys(t["benchmark"]))
        models = ", ".join(dict.fromkeys(t["model"]))
        sub = (f"benchmark {esc(benches)} · models {esc(models)} · {len(t)} runs"
               + (f" of {total}" if total and total != len(t) else "")
               + f" · seeds {esc(', '.join(map(str, seeds)))} · clsweep {esc(version)}")
        nav = "".join(f'<a href="#{a}">{b}</a>' for a, b in
                      [("status", "Status"), ("summary", "Summary"), ("paired", "Paired tests"),
                       ("figures", f"Figures ({nfig})"), ("runs", "All runs"), ("sweep", "Sweep file")])
        body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clsweep report: {esc(name)}</title>
<style>{STYLE}</style></head>
<body>
<header><h1>{esc(name)}</h1><div class="sub">{sub}</div>
<div class="sub">files: {esc(", ".join(os.path.basename(f) for f in files))}</div></header>
<nav>{nav}</nav>
<main>
<h2 id="status">Runs by status</h2>
{status_section(runs)}
<h2 id="summary">Summary over seeds</h2>
<p class="note">Per configuration: mean ± {esc(st.SD_LABEL)} over seeds of the runs with status ok,
and below it the {esc(st.CI_LABEL)} and n. Every configuration is listed, also one without any
ok run (its runs' messages are shown). Column headers name each metric's direction. Click a
header to sort.</p>
{summary_section(table, axes, metrics)}
<h2 id="paired">Paired comparisons</h2>
<p class="note">Runs with the same seed share the data subset, task order and batch order
(tests/test_loader.py checks it), so configurations are compared seed by seed: the paired
t-test and the Wilcoxon signed-rank test on the per-seed differences, Holm-corrected across the
table; d_z is Cohen's effect size for paired data. Bold: Holm-corrected paired-t p &lt; 0.05.</p>
{paired_section(paired, axes)}
<h2 id="figures">Figures</h2>
<p class="note">Made by analysis/plot (the same figures as its PNG output). Error bars and bands:
95 % t intervals (ablations) or ± sd (curves) over seeds.</p>
{figs or '<p class="note">No figures.</p>'}
<h2 id="runs">All runs</h2>
<p class="note">One row per run, every status; "not read" marks a parameter the run's model does
not read. Click a header to sort.</p>
{runs_section(runs, metrics)}
<h2 id="sweep">Sweep file</h2>
<pre>{esc(yaml_text)}</pre>
</main>
<footer>Generated by analysis/report (clsweep). Statistics: analysis/clsweep_stats.py — sample sd
(ddof 1), 95 % Student-t intervals, paired t and Wilcoxon signed-rank tests, Holm correction.
Self-contained: no network access, no external files.</footer>
<script>{SORT_JS}</script>
</body></html>
"""
        return name, body
    finally:
        runs.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    by_sweep = {}
    for f in args.files:
        try:
            ds = cr.open_sweep(f)
        except cr.NotASweepFile as e:
            return cr.fail(PROG, e)
        by_sweep.setdefault(str(ds.attrs.get("sweep_name", os.path.basename(f))), []).append(f)
        ds.close()
    try:
        os.makedirs(args.outdir, exist_ok=True)
        for name, files in by_sweep.items():
            _, text = page(files, args)
            path = os.path.join(args.outdir, plot.slug(name) + ".html")
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
            print(path)
        return 0
    except cr.NotASweepFile as e:
        return cr.fail(PROG, e)
    except (OSError, ValueError) as e:
        return cr.fail(PROG, e)


if __name__ == "__main__":
    sys.exit(main())
