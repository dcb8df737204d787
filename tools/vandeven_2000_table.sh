#!/usr/bin/env bash
# tools/vandeven_2000_table.sh — the Markdown tables of docs/results/baselines.md "The paper's
# budget" from the runs file that tools/vandeven_2000.sh writes (a developer tool; stdlib Python).
#
#   tools/vandeven_2000_table.sh [--bench | --R] [TSV]   (default docs/results/baselines_2000_runs.tsv)
#
# --bench prints only the whole-sweep lines in `make bench`'s "name | value | unit | notes" form
# (tools/vandeven_ratio.sh appends them to its output; they are the RECORDED runs of TSV, not a
# new measurement).
#
# Prints: ACC % per scenario and method, clsweep and reference side by side, mean ± 95 % CI
# (Student t, n − 1 d.o.f.) with the number of seeds (cells under 5 seeds marked †, bold where
# both have ≥ 2 seeds and the intervals do not overlap); the last row of the mean R and the mean
# of its diagonal (accuracy on each task right after training it) per method and side (--R: the
# whole mean R matrices instead); and CPU
# and wall seconds summed over the (scenario, seed, method) runs that BOTH sides completed,
# per method and in all, with the ratio reference / clsweep.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=0
FULLR=0
[ "${1:-}" = --bench ] && { BENCH=1; shift; }
[ "${1:-}" = --R ] && { FULLR=1; shift; }
TSV=${1:-$ROOT/docs/results/baselines_2000_runs.tsv}
[ -f "$TSV" ] || { echo "no such file: $TSV" >&2; exit 2; }
exec /usr/bin/python3 - "$TSV" "$BENCH" "$FULLR" <<'PYEOF'
import csv, math, sys
BENCH = sys.argv[2] == "1"
FULLR = sys.argv[3] == "1"

T975 = [0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
METHODS = ["none", "joint", "ewc", "si", "lwf", "er", "agem"]
NAMES = {"none": "None / finetune", "joint": "Joint (cumulative)", "ewc": "EWC", "si": "SI",
         "lwf": "LwF", "er": "ER", "agem": "A-GEM"}
SIDES = ["clsweep", "reference"]

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
runs = {}
for r in rows:
    runs[(r["side"], r["scenario"], r["method"], int(r["seed"]))] = r


def stats(xs):
    n = len(xs)
    if n == 0:
        return None
    m = sum(xs) / n
    if n == 1:
        return m, float("nan"), 1
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, T975[min(n - 1, 10)] * sd / math.sqrt(n), n


def cell(s, bold=False):
    if s is None:
        return "—"
    m, ci, n = s
    txt = "%.1f" % m if n == 1 else "%.1f ± %.1f" % (m, ci)
    if bold:
        txt = "**%s**" % txt
    return "%s (%d%s)" % (txt, n, "" if n >= 5 else "†")


scens = [s for s in ["class", "task"] if any(k[1] == s for k in runs)]


def both_sides(s, m):
    return [(runs[("reference", s, m, sd)], runs[("clsweep", s, m, sd)])
            for (side, sc, mm, sd) in sorted(runs)
            if side == "reference" and sc == s and mm == m and ("clsweep", s, m, sd) in runs]


if BENCH:
    pairs = [p for s in scens for m in METHODS for p in both_sides(s, m)]
    if pairs:
        rc, cc = (sum(float(p[i]["cpu_s"]) for p in pairs) for i in (0, 1))
        rw, cw = (sum(float(p[i]["wall_s"]) for p in pairs) for i in (0, 1))
        note = ("%d runs each side, %s-IL, 2,000 it/task, recorded in %s"
                % (len(pairs), "+".join(scens), sys.argv[1].split("/")[-1]))
        print("vdv 2000-it sweep cpu ratio | %.2f | x | %s; reference / clsweep" % (rc / cc, note))
        print("vdv 2000-it sweep wall ratio | %.2f | x | %s; reference / clsweep" % (rw / cw, note))
    sys.exit(0)
print("ACC %, mean ± 95 % CI (number of seeds; † fewer than 5; bold: the intervals do not overlap)")
print()
head = "| method |" + "".join(" %s-IL clsweep | %s-IL reference |" % (s, s) for s in scens)
print(head)
print("|---|" + "---:|---:|" * len(scens))
for m in METHODS:
    line = "| %s |" % NAMES[m]
    for s in scens:
        st = [stats([100 * float(r["acc"]) for k, r in runs.items()
                     if k[0] == side and k[1] == s and k[2] == m]) for side in SIDES]
        apart = False
        if st[0] and st[1] and st[0][2] >= 2 and st[1][2] >= 2:
            lo0, hi0 = st[0][0] - st[0][1], st[0][0] + st[0][1]
            lo1, hi1 = st[1][0] - st[1][1], st[1][0] + st[1][1]
            apart = hi0 < lo1 or hi1 < lo0
        line += " %s | %s |" % (cell(st[0], apart), cell(st[1], apart))
    print(line)

def mean_R(s, m, side):
    Rs = [[[float(v) for v in row.split(",")] for row in r["R"].split(";")]
          for k, r in sorted(runs.items()) if k[0] == side and k[1] == s and k[2] == m and r["R"]]
    if not Rs:
        return None, 0
    T = len(Rs[0])
    return [[100 * sum(R[i][j] for R in Rs) / len(Rs) for j in range(T)] for i in range(T)], len(Rs)


if FULLR:
    print()
    print("Mean R (%; row i: after task i, column j: task j), per scenario, method and side:")
    for s in scens:
        for m in METHODS:
            for side in SIDES:
                R, n = mean_R(s, m, side)
                if R is None:
                    continue
                print()
                print("%s-IL %s, %s (%d seed%s):" % (s, NAMES[m], side, n, "" if n == 1 else "s"))
                print("```")
                for row in R:
                    print(" ".join("%5.1f" % v for v in row))
                print("```")
else:
    print()
    print("Mean R after the last task (accuracy % on tasks 1–5; the reference's seeds ≥ 1 train the")
    print("digit pairs in another order, so its columns are contexts, not fixed digit pairs) and the")
    print("mean of R's diagonal (each task right after training it):")
    print()
    print("| scenario | method | side | seeds | R[5][1..5] | mean diagonal |")
    print("|---|---|---|---:|---|---:|")
    for s in scens:
        for m in METHODS:
            for side in SIDES:
                R, n = mean_R(s, m, side)
                if R is None:
                    continue
                T = len(R)
                print("| %s | %s | %s | %d | %s | %.1f |" % (s, NAMES[m], side, n,
                      " ".join("%.1f" % v for v in R[T - 1]), sum(R[i][i] for i in range(T)) / T))

print()
print("CPU and wall seconds, summed over the runs both sides completed (ratio = reference / clsweep):")
print()
print("| scenario | method | runs | reference CPU s | clsweep CPU s | CPU ratio | reference wall s | clsweep wall s | wall ratio |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
tot = [0, 0.0, 0.0, 0.0, 0.0]
for s in scens:
    for m in METHODS:
        pairs = both_sides(s, m)
        if not pairs:
            continue
        rc = sum(float(a["cpu_s"]) for a, _ in pairs)
        cc = sum(float(b["cpu_s"]) for _, b in pairs)
        rw = sum(float(a["wall_s"]) for a, _ in pairs)
        cw = sum(float(b["wall_s"]) for _, b in pairs)
        print("| %s | %s | %d | %.0f | %.0f | %.2f× | %.0f | %.0f | %.2f× |"
              % (s, NAMES[m], len(pairs), rc, cc, rc / cc, rw, cw, rw / cw))
        for i, v in enumerate([len(pairs), rc, cc, rw, cw]):
            tot[i] += v
if tot[0]:
    print("| all | all | %d | %.0f | %.0f | **%.2f×** | %.0f | %.0f | **%.2f×** |"
          % (tot[0], tot[1], tot[2], tot[1] / tot[2], tot[3], tot[4], tot[3] / tot[4]))
PYEOF
