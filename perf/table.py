#!/usr/bin/env python3
"""table.py DIR [EXTRAS] — a summary table of `make bench` (perf/run.sh writes DIR, one per ISA
setting; the RSS and scheduler tables are read from EXTRAS when given).

DIR holds one file per program and round, named ROUND.PROGRAM.txt (PROGRAM = perf_mlp,
…, torch_reference), each with lines "name | value | unit | notes", and rss.txt with lines
"model | KB | command". For every table row the best value over the rounds is taken (the
rounds interleave clsweep and PyTorch, so both sides see the same machine load). Prints a
Markdown table: the ISA level, clsweep throughput, FLOPs and bytes per unit, the roofline
bound that applies (sgemm peak or triad bandwidth at the working set, both measured by
perf_roofline, or the two in sequence) as a rate, the fraction reached, PyTorch throughput,
ratio, targets, met?
A row whose program did not run says "not built" (or "no torch" for the reference). A ratio
target that even 100 % of the bound could not meet (bound rate / PyTorch's rate < target)
says "no: bound" with that ceiling; any other missed ratio says which fraction of the bound
it would need. Standard library only."""
import glob
import os
import re
import sys

# (label, clsweep program, clsweep line, gflop source, torch line, target ratio or None)
# gflop source: ("notes", regex) — read from the clsweep line's notes;
#               ("line", name)   — the value of another line of the same program;
#               ("per_unit", MFLOP per unit of throughput) — analytic count (see below).
#
# Analytic counts (multiply-add = 2 FLOPs):
#  gated step (P 2, d_in 20, d_out 10, batch 200): teacher product, forward and weight
#    gradient are 200·20·10 multiply-adds each, folding/unfolding the gates 3·2·20·10:
#    2·(3·40000 + 1200) = 0.2424 MFLOP (the 4000 normals are not counted).
#  hsf epoch (300 rows): forward per row 300,416 multiply-adds (encoder 5,824, flow 6,144,
#    2 SDEs × 10 steps × (drift + diffusion) 286,720, decoder 1,728) plus the three weight
#    generators once (4.90 M, mostly enc2's 1028×4096); backward ≈ 2× forward:
#    3·2·(300·300,416 + 4,898,848) = 570.1 MFLOP (AdamW and the replay step not counted).
GATED_MFLOP = 2 * (3 * 200 * 20 * 10 + 3 * 2 * 20 * 10) / 1e6
HSF_MFLOP = 3 * 2 * (300 * 300416 + 4898848) / 1e6
#  hsf epoch, memory: AdamW updates all 4,944,677 parameters every epoch, reading and
#    writing θ, m and v (6 floats each; the gradient read and the zeroing pass not counted,
#    so this is a lower bound): 118.7 MB through DRAM (the 59 MB of θ, m, v exceed the
#    caches). The optimiser runs after the backward, so the epoch's bound is the sum
#    FLOPs / sgemm peak + bytes / DRAM triad bandwidth ("sgemm+bw"). Only the weight
#    generators' gradient (≤ 29 MFLOP, 0.3 ms at 90 GFLOP/s) runs inside the fused update
#    and could overlap the memory phase: the bound is at most ~3 % too low.
HSF_ADAMW_MB = 6 * 4 * 4944677 / 1e6

# Bytes moved per unit (analytic, float32, each array counted once per pass; caches not
# modelled), for the rows whose bound is memory bandwidth:
#  MLP 784-256-256-10, batch 1, fused SGD: forward reads the 269,322 parameters, the
#    backward's two sgemv read W2 and W3 (68,096), the update reads and writes all:
#    4·(3·269,322 + 68,096) = 3.50 MB per sample; working set 1.08 MB (the parameters).
#  EWGN batch 1 (C 20, H 32), per nonzero pixel: its (C, H) block of W2 and its C biases b2
#    read by the forward, read and written by the fused update (3·(640 + 20) floats), its W1
#    row likewise (3·32): 8,304 B; with EWC the update also reads anchor and shrink
#    (5·(640 + 20 + 32): 13,840 B; the lazy catch-up of blocks untouched for a while is not
#    counted). Not counted: x (3 KB per sample, 0.3 %) and the per-sample scratch (L1).
#    Working set, hence the triad size: the blocks touched between two touches of the same
#    pixel — measured on the MNIST task, the union of the nonzero pixels of 16 / 64 / 2,000
#    consecutive samples is 414 / 496 / 640 pixels = 1.1 / 1.3 / 1.7 MB of W2+b2+W1, more than
#    the 1 MiB L2, so the bytes stream from L2 and L3 as in the 2 MiB triad (W2+W1 in all:
#    2.1 MB; ×3 with anchor and shrink: the 6 MiB triad). docs/performance.md ("EWGN batch 1:
#    the bound") also works out the latency bound of the step's dependent chain (4-5× looser).
MLP_B1_MB = 4 * (3 * 269322 + 68096) / 1e6
EWGN_PIX_B = 4 * 3 * (640 + 20 + 32)
EWGN_PIX_B_EWC = 4 * 5 * (640 + 20 + 32)
EWGN_NNZ = r"nnz (\d+) of"

# (label, clsweep program, clsweep line, gflop source, torch line, target ratio or None,
#  bound, bytes per unit, target fraction of the bound or None)
# gflop source: ("notes", regex) — read from the clsweep line's notes;
#               ("line", name)   — the value of another line of the same program;
#               ("per_unit", MFLOP per unit of throughput) — analytic count (see above).
# bound: ("sgemm",) — FLOPs at the sgemm peak; ("bw", KiB) — bytes at the triad bandwidth
#        of that working set (perf_roofline); ("sgemm+bw", KiB) — a compute phase and a
#        memory phase in sequence: FLOPs / peak + bytes / bandwidth.
# bytes: None, a number of MB per unit, or ("nnz", bytes per pixel, line) — per nonzero pixel
#        read from that line's notes.
ROWS = [
    ("finetune MLP 784-256-256-10, batch 1, SGD (fused step)", "perf_mlp",
     "mlp_784_256_256_10 train batch 1 sgd", ("notes", r"([\d.]+) GFLOP/s"), "torch_mlp_b1", 3.0,
     ("bw", 1024), MLP_B1_MB, 0.6),
    ("  unfused: zero grads, backward, optim_step (ewc's path, without its penalty)", "perf_mlp",
     "mlp_784_256_256_10 train batch 1 sgd unfused", ("notes", r"([\d.]+) GFLOP/s"),
     "torch_mlp_b1", None, ("sgemm",), None, None),
    ("finetune/ewc MLP 784-256-256-10, batch 64, SGD", "perf_mlp",
     "mlp_784_256_256_10 train batch 64 sgd", ("notes", r"([\d.]+) GFLOP/s"), "torch_mlp_b64", 3.0,
     ("sgemm",), None, None),
    ("EWGN batch 1 (paper), MNIST", "perf_ewgn", "batch 1 fused, MNIST samples/s",
     ("line", "batch 1 fused, MNIST GFLOP/s"), "torch_ewgn_b1", 3.0,
     ("bw", 2048), ("nnz", EWGN_PIX_B, "batch 1 fused, MNIST GFLOP/s"), 0.6),
    ("EWGN batch 1 + EWC, Fashion", "perf_ewgn", "batch 1 fused + EWC, Fashion samples/s",
     ("line", "batch 1 fused + EWC, Fashion GFLOP/s"), "torch_ewgn_b1_ewc", 3.0,
     ("bw", 6144), ("nnz", EWGN_PIX_B_EWC, "batch 1 fused + EWC, Fashion GFLOP/s"), None),
    ("EWGN batch 32, MNIST", "perf_ewgn", "batch 32, MNIST samples/s",
     ("line", "batch 32, MNIST GFLOP/s"), "torch_ewgn_b32", 3.0, ("sgemm",), None, None),
    ("EWGN batch 32 + EWC, Fashion", "perf_ewgn", "batch 32 + EWC, Fashion samples/s",
     ("line", "batch 32 + EWC, Fashion GFLOP/s"), "torch_ewgn_b32_ewc", None, ("sgemm",), None, None),
    ("gated teacher-student, Euler steps (batch 200)", "perf_gated", "gated_ts_run",
     ("per_unit", GATED_MFLOP), "torch_gated_ts", 3.0, ("sgemm",), None, None),
    ("  teacher-student batch draw (200x20 normals + teacher)", "perf_gated", "teacher_sample",
     None, "torch_teacher_sample", None, None, None, None),
    ("PAH batch 64, task 0, prototypes 10x10", "perf_pah",
     "pah train batch 64, task 0 (0 old), proto 10x10", ("notes", r"~([\d.]+) GFLOP/s"),
     "torch_pah_t0_p10", 5.0, ("sgemm",), None, 0.5),
    ("PAH batch 64, task 4 (4 old), prototypes 10x10", "perf_pah",
     "pah train batch 64, task 4 (4 old), proto 10x10", ("notes", r"~([\d.]+) GFLOP/s"),
     "torch_pah_t4_p10", 5.0, ("sgemm",), None, 0.5),
    ("PAH batch 64, task 4 (4 old), prototypes 20x20", "perf_pah",
     "pah train batch 64, task 4 (4 old), proto 20x20", ("notes", r"~([\d.]+) GFLOP/s"),
     "torch_pah_t4_p20", None, ("sgemm",), None, None),
    ("HSF epochs (full batch 300), task 0", "perf_hsf", "hsf_epochs_per_s",
     ("per_unit", HSF_MFLOP), "torch_hsf", 10.0, ("sgemm+bw", 262144), HSF_ADAMW_MB, None),
    ("HSF epochs, task 1 with replay", "perf_hsf", "hsf_epochs_per_s_replay",
     ("per_unit", HSF_MFLOP), "torch_hsf_replay", 10.0, ("sgemm+bw", 262144), HSF_ADAMW_MB, None),
    ("  HSF vs the authors' formulation (per-sample weights)", "perf_hsf", "hsf_epochs_per_s",
     ("per_unit", HSF_MFLOP), "torch_hsf_authors", None, ("sgemm+bw", 262144), HSF_ADAMW_MB, None),
]

LOWER_IS_BETTER = {"ms", "s", "us"}


def norm(name):
    return re.sub(r"\s+", " ", name.strip())


def parse(path):
    """{name: (value, unit, notes)} of one output file."""
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            if len(parts) < 3:
                continue
            try:
                value = float(parts[1].strip())
            except ValueError:
                continue
            out[norm(parts[0])] = (value, parts[2].strip(), "|".join(parts[3:]).strip())
    return out


def load(d):
    """{program: {name: best (value, unit, notes)}} over all rounds."""
    best = {}
    for path in sorted(glob.glob(os.path.join(d, "*.*.txt"))):
        prog = os.path.basename(path).split(".")[1]
        cur = best.setdefault(prog, {})
        for name, v in parse(path).items():
            old = cur.get(name)
            lower = v[1] in LOWER_IS_BETTER
            if old is None or (v[0] < old[0] if lower else v[0] > old[0]):
                cur[name] = v
    return best


def fmt(v):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    d = sys.argv[1]
    extras = sys.argv[2] if len(sys.argv) > 2 else d
    data = load(d)
    roof = data.get("perf_roofline", {})
    peak = roof.get(norm("sgemm 512x512x512 (1 thread)"))
    peak = peak[0] if peak else None
    isa = roof.get(norm("isa level"))
    isa_txt = isa[2].split(" ")[0] if isa else "?"
    bw = {}
    for name, v in roof.items():
        m = re.match(r"triad bandwidth (\d+) KiB", name)
        if m:
            bw[int(m.group(1))] = v[0]
    tv = data.get("torch_reference", {}).get("torch_version")
    print(f"ISA level of clsweep's kernels: {isa[2] if isa else 'not measured'}")
    print(f"single-core sgemm peak (perf_roofline, OpenBLAS, 512³): "
          f"{fmt(peak) + ' GFLOP/s' if peak else 'not measured'}; triad bandwidth: "
          + (", ".join(f"{k} KiB {fmt(v)} GB/s" for k, v in sorted(bw.items())) or "not measured")
          + f"; PyTorch: {tv[2] if tv else 'not run'}")
    print()
    print("| model / setting | ISA | clsweep | unit | MFLOP/unit | MB/unit | bound | bound rate | "
          "% of bound | PyTorch | ratio | target | met? |")
    print("|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---|---|")
    for label, prog, line, gsrc, tline, target, bound, nbytes, ftarget in ROWS:
        cs = data.get(prog)
        c = cs.get(norm(line)) if cs else None
        t = data.get("torch_reference", {}).get(tline)
        if cs is None:
            cval, unit = "not built", ""
        elif c is None:
            cval, unit = "no such line", ""
        else:
            cval, unit = fmt(c[0]), c[1]
        gf = None
        if c is not None and gsrc is not None:
            if gsrc[0] == "notes":
                m = re.search(gsrc[1], c[2])
                gf = float(m.group(1)) if m else None
            elif gsrc[0] == "line":
                g = cs.get(norm(gsrc[1]))
                gf = g[0] if g else None
            else:
                gf = c[0] * gsrc[1] / 1e3
        mflop = gf * 1e3 / c[0] if gf is not None and c is not None and c[0] > 0 else None
        mb = None
        if isinstance(nbytes, (int, float)):
            mb = nbytes
        elif isinstance(nbytes, tuple) and cs:
            g = cs.get(norm(nbytes[2]))
            m = re.search(EWGN_NNZ, g[2]) if g else None
            mb = int(m.group(1)) * nbytes[1] / 1e6 if m else None
        btxt, brate, frac = "—", None, None
        if bound and bound[0] == "sgemm" and peak and mflop:
            btxt, brate = f"sgemm {fmt(peak)} GFLOP/s", peak * 1e3 / mflop
        elif bound and bound[0] == "bw" and bw.get(bound[1]) and mb:
            btxt, brate = f"triad {bound[1]} KiB {fmt(bw[bound[1]])} GB/s", bw[bound[1]] * 1e3 / mb
        elif bound and bound[0] == "sgemm+bw" and peak and mflop and bw.get(bound[1]) and mb:
            btxt = f"sgemm {fmt(peak)} GFLOP/s, then triad {bound[1]} KiB {fmt(bw[bound[1]])} GB/s"
            brate = 1e3 / (mflop / peak + mb / bw[bound[1]])
        if brate and c is not None:
            frac = c[0] / brate
        tval = fmt(t[0]) if t else ("no torch" if "torch_reference" not in data else "—")
        ratio = c[0] / t[0] if c is not None and t and t[0] > 0 else None
        rtxt = f"{ratio:.1f}×" if ratio is not None else "—"
        goals, mets = [], []
        if target:
            goals.append(f"≥ {target:g}× PyTorch")
            met = "—" if ratio is None else ("yes" if ratio >= target else "**no**")
            # the most any implementation can reach: the bound's rate over PyTorch's rate
            # (e.g. MLP batch 64: both sides run the same sgemm, so ≤ peak / PyTorch's rate)
            if met == "**no**" and brate and t and t[0] > 0 and brate / t[0] < target:
                met = f"**no: bound** (≤ {brate / t[0]:.1f}× at 100 % of the bound)"
            elif met == "**no**" and brate and t and t[0] > 0:
                met = f"**no** (needs {100 * target * t[0] / brate:.0f} % of the bound)"
            mets.append(met)
        if ftarget:
            goals.append(f"≥ {100 * ftarget:.0f} % of bound")
            mets.append("—" if frac is None else ("yes" if frac >= ftarget else "**no**"))
        print(f"| {label} | {isa_txt} | {cval} | {unit} | {fmt(mflop)} | {fmt(mb)} | {btxt} | "
              f"{fmt(brate)} | {'—' if frac is None else f'{100 * frac:.0f} %'} | {tval} | {rtxt} | "
              f"{', '.join(goals) or '—'} | {', '.join(mets) or '—'} |")
    d = extras
    rss = os.path.join(d, "rss.txt")
    if os.path.exists(rss):
        print()
        print("| model (paper setting) | peak RSS | command |")
        print("|---|---:|---|")
        with open(rss) as f:
            for line in f:
                p = [s.strip() for s in line.split("|")]
                if len(p) >= 3:
                    kb = p[1]
                    val = f"{int(kb) / 1024:.0f} MiB" if kb.isdigit() else kb
                    print(f"| {p[0]} | {val} | `{p[2]}` |")
    sched = os.path.join(d, "sched.txt")
    if os.path.exists(sched):
        kv = {}
        with open(sched) as f:
            for line in f:
                if line.startswith("sched_") and "=" in line:
                    k, v = line.strip().split("=", 1)
                    try:
                        kv[k] = float(v)
                    except ValueError:
                        pass
        rows = [
            ("dispatch rate, 1 master + 1 worker, no-op runs, NetCDF on", "sched_dispatch_np2",
             "runs/s", lambda v: v >= 5000, "≥ 5,000"),
            ("dispatch rate, 1 master + 2 workers", "sched_dispatch_np3", "runs/s",
             lambda v: v >= 5000, "≥ 5,000"),
            ("dispatch rate, one process (master runs them)", "sched_dispatch_np1", "runs/s", None, ""),
            ("dispatch rate, 1 worker, fork per run (isolate: true)", "sched_dispatch_isolated_np2",
             "runs/s", None, ""),
            ("master CPU while 2 workers compute", "sched_master_cpu_pct", "%",
             lambda v: v < 2, "< 2 %"),
            ("parallel efficiency T1 / (2·T2), equal runs", "sched_efficiency", "",
             lambda v: v >= 0.95, "≥ 0.95"),
            ("workers busy (run time / workers × wall), 2 workers", "sched_utilisation_2w", "%", None, ""),
            ("makespan / max(Σt/2, max t), unequal runs", "sched_makespan_over_lb", "", None, ""),
            ("makespan / ideal longest-first schedule", "sched_makespan_over_lpt", "", None, ""),
        ]
        print()
        print("| scheduler | value | unit | target | met |")
        print("|---|---:|---|---|---|")
        for label, key, unit, ok, target in rows:
            if key not in kv:
                continue
            v = kv[key]
            met = "—" if ok is None else ("yes" if ok(v) else "**no**")
            print(f"| {label} | {fmt(v)} | {unit} | {target or '—'} | {met} |")
    million_table(os.path.join(d, "million.txt"))
    vdv = os.path.join(d, "vandeven_ratio.txt")   # tools/vandeven_ratio.sh
    if os.path.exists(vdv):
        print()
        print("| clsweep vs van de Ven et al.'s reference code (same runs, alternating) | value | unit | notes |")
        print("|---|---:|---|---|")
        for name, (v, unit, notes) in parse(vdv).items():
            print(f"| {name} | {fmt(v)} | {unit} | {notes} |")
    return 0


def million_table(path):
    """The million-run row (perf/million.sh, issue 23): targets are for 10^6 runs."""
    if not os.path.exists(path):
        return
    kv = {}
    with open(path) as f:
        for line in f:
            if line.startswith("million_") and "=" in line:
                k, v = line.strip().split("=", 1)
                try:
                    kv[k] = float(v)
                except ValueError:
                    pass
    if "million_runs" not in kv:
        return
    n = int(kv["million_runs"])
    full = n >= 1000000
    rows = [
        ("expand, wall", "million_expand_s", "s", lambda v: v <= 5, "≤ 5 s at 10⁶"),
        ("expand, user CPU", "million_expand_user_s", "s", None, ""),
        ("expand, peak RSS", "million_expand_rss_mib", "MiB", lambda v: v <= 300, "≤ 300 MB at 10⁶"),
        ("dispatch rate, 1 master + 2 workers, whole sweep", "million_rate", "runs/s",
         lambda v: v >= 10000, "≥ 10,000"),
        ("dispatch rate without the .nc writes", "million_rate_without_writes", "runs/s", None, ""),
        (".nc writes, total", "million_nc_write_s", "s", None, ""),
        ("master CPU per run while dispatching", "million_master_cpu_us_per_run", "µs", None, ""),
        ("CPU per run, whole job (all ranks, MPI polling included)", "million_job_cpu_us_per_run",
         "µs", None, ""),
        ("master peak RSS", "million_master_rss_mib", "MiB", lambda v: v <= 1000, "≤ 1 GB at 10⁶"),
        ("largest child's peak RSS (.nc writer; shares the master's pages)",
         "million_writer_rss_mib", "MiB", None, ""),
        (".nc file", "million_nc_mib", "MiB", None, ""),
        ("journal at the end", "million_journal_mib", "MiB", None, ""),
        ("journal at most, during the sweep (compacted past 64 MiB)", "million_journal_peak_mib",
         "MiB", None, ""),
        ("mpirun wall (rank start and setup included)", "million_mpirun_wall_s", "s", None, ""),
    ]
    print()
    print(f"| {n:,} no-op runs{'' if full else ' (quick size; --million-full for 10⁶)'} "
          "| value | unit | target | met |")
    print("|---|---:|---|---|---|")
    for label, key, unit, ok, target in rows:
        if key not in kv:
            continue
        v = kv[key]
        met = "—" if ok is None or not full and unit != "runs/s" else ("yes" if ok(v) else "**no**")
        print(f"| {label} | {fmt(v)} | {unit} | {target or '—'} | {met} |")


if __name__ == "__main__":
    sys.exit(main())
