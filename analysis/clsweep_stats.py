"""clsweep_stats.py — the one statistics module of the analysis scripts.

Used by analysis/aggregate (tables), analysis/plot (error bars) and analysis/report (tables
and paired tests); nothing else computes a mean, a spread or a test. Pure functions of
numbers (numpy/scipy only; no file reading).

Conventions, stated once and labelled everywhere they are shown:
  - sd is the SAMPLE standard deviation (ddof 1) over seeds; undefined (NaN) for n < 2.
  - ci95 is the two-sided 95 % Student-t confidence interval of the mean over seeds:
    mean ± t(0.975, n-1) · sd / √n; undefined for n < 2.
  - A paired comparison of configurations A and B uses the seeds both finished with status
    ok (runs with the same seed share the data subset and the task order, so the difference
    per seed removes the stream's variance): n pairs, mean difference B − A with its 95 % t
    interval, Cohen's d_z = mean(d)/sd(d), the paired t-test and the Wilcoxon signed-rank
    test (exact for small n, two-sided), and Holm's step-down correction over all the
    comparisons of one table.
"""
import math

import numpy as np

CI_LEVEL = 0.95
SD_LABEL = "sd (sample, ddof 1)"
CI_LABEL = "95 % CI (Student t over seeds)"


def _finite(values):
    x = np.asarray([v for v in values if v is not None and not (isinstance(v, str))],
                   dtype=float)
    return x[np.isfinite(x)]


def t_quantile(n):
    """t(0.975, n − 1), the multiplier of the 95 % interval for n values (NaN for n < 2)."""
    if n < 2:
        return math.nan
    from scipy import stats
    return float(stats.t.ppf(0.5 + CI_LEVEL / 2, n - 1))


class Summary:
    """n, mean, sd (ddof 1), sem and the 95 % t interval (lo, hi) of the finite values."""
    __slots__ = ("n", "mean", "sd", "sem", "lo", "hi")

    def __init__(self, values):
        x = _finite(values)
        self.n = int(x.size)
        self.mean = float(x.mean()) if x.size else math.nan
        self.sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
        self.sem = self.sd / math.sqrt(self.n) if self.n > 1 else math.nan
        half = t_quantile(self.n) * self.sem if self.n > 1 else math.nan
        self.lo, self.hi = self.mean - half, self.mean + half

    @property
    def half_width(self):
        return (self.hi - self.lo) / 2 if self.n > 1 else math.nan

    def __repr__(self):
        return (f"Summary(n={self.n}, mean={self.mean:.6g}, sd={self.sd:.6g}, "
                f"ci95=[{self.lo:.6g}, {self.hi:.6g}])")


def summarise(values):
    """Summary of the finite values (see Summary)."""
    return Summary(values)


def holm(pvalues):
    """Holm–Bonferroni adjusted p-values, in the input order. NaN entries are left NaN and
    do not count as comparisons. adjusted p_(i) = max_{j<=i} min(1, (m − j + 1) p_(j)) over
    the ascending order."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


class Paired:
    """A paired comparison of B against A over n shared seeds (see the module docstring).
    diff = B − A per seed; p_t, p_w two-sided; p_t_holm/p_w_holm filled by paired_table."""
    __slots__ = ("n", "mean_a", "mean_b", "diff", "lo", "hi", "sd_diff", "dz", "t", "p_t", "w",
                 "p_w", "p_t_holm", "p_w_holm")

    def __init__(self, a, b):
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        if a.shape != b.shape:
            raise ValueError("paired samples must have the same length")
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        d = b - a
        self.n = int(d.size)
        self.mean_a = float(a.mean()) if a.size else math.nan
        self.mean_b = float(b.mean()) if b.size else math.nan
        s = Summary(d)
        self.diff, self.lo, self.hi, self.sd_diff = s.mean, s.lo, s.hi, s.sd
        self.dz = self.diff / self.sd_diff if self.n > 1 and self.sd_diff > 0 else math.nan
        self.t, self.p_t = paired_t(a, b)
        self.w, self.p_w = wilcoxon(a, b)
        self.p_t_holm = self.p_w_holm = math.nan


def paired_t(a, b):
    """(t, two-sided p) of the paired t-test of b − a; NaN when n < 2 or all differences
    are equal (zero variance: the t statistic is undefined)."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2 or float(np.std(d, ddof=1)) == 0.0:
        return math.nan, math.nan
    from scipy import stats
    r = stats.ttest_1samp(d, 0.0)  # the paired t-test is the one-sample test of b − a
    return float(r.statistic), float(r.pvalue)


def wilcoxon(a, b):
    """(W, two-sided p) of the Wilcoxon signed-rank test of b − a (zero differences are
    dropped, Wilcoxon's convention; exact distribution when there are no ties and n ≤ 50).
    NaN when no non-zero difference is left."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[np.isfinite(d)]
    d = d[d != 0]
    if d.size == 0:
        return math.nan, math.nan
    from scipy import stats
    r = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(r.statistic), float(r.pvalue)


def pair_by_seed(runs_a, runs_b, metric):
    """(seeds, a values, b values) of the seeds present with a finite metric in both
    DataFrames of runs (columns seed and metric; one run per seed each)."""
    va = {int(s): float(v) for s, v in zip(runs_a["seed"], runs_a[metric]) if np.isfinite(v)}
    vb = {int(s): float(v) for s, v in zip(runs_b["seed"], runs_b[metric]) if np.isfinite(v)}
    seeds = sorted(set(va) & set(vb))
    return seeds, [va[s] for s in seeds], [vb[s] for s in seeds]


def paired_table(pairs):
    """pairs: [(label, a_values, b_values)]. Returns [(label, Paired)] with Holm-adjusted
    p-values over the table's comparisons (t-test and Wilcoxon corrected separately)."""
    out = [(label, Paired(a, b)) for label, a, b in pairs]
    for attr in ("t", "w"):
        adj = holm([getattr(p, f"p_{attr}") for _, p in out])
        for (_, p), v in zip(out, adj):
            setattr(p, f"p_{attr}_holm", float(v))
    return out


# ---- number formatting (one format per table column) ----

def decimals_for(values, sig=3, most=6):
    """Decimals that show `sig` significant digits of the smallest non-zero magnitude among
    values (a spread, typically), clipped to [0, most]. One call per column gives every
    cell of the column the same number of decimals."""
    x = np.abs(_finite(values))
    x = x[x > 0]
    if not x.size:
        return 2
    d = sig - 1 - int(math.floor(math.log10(float(x.min()))))
    return max(0, min(most, d))


def fmt_fixed(x, decimals):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{decimals}f}"


def fmt_p(p):
    """A p-value: 3 significant digits, '<0.001' below 0.001, '–' when undefined."""
    if p is None or not math.isfinite(p):
        return "–"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"
