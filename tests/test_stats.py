"""test_stats.py — analysis/clsweep_stats.py against values computed by hand.

Every expected number below is derived in the comment next to it (no call to scipy on the
expected side), so a wrong formula, a wrong ddof or a one-sided p cannot pass.
Run with the Debian interpreter: /usr/bin/python3 -m pytest tests/test_stats.py.
"""
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
pytest.importorskip("scipy")
import clsweep_stats as st  # noqa: E402


def test_summary_sample_sd_and_t_interval():
    s = st.summarise([1, 2, 3, 4, float("nan"), None])
    # mean 2.5; squared deviations 2.25+0.25+0.25+2.25 = 5, /(n-1)=3 → sd = √(5/3)
    assert s.n == 4 and s.mean == 2.5
    assert math.isclose(s.sd, math.sqrt(5 / 3), rel_tol=1e-12)
    # t(0.975, 3) = 3.182446305 (tables); half width = 3.182446305 · sd / 2
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert math.isclose(s.lo, 2.5 - half, rel_tol=1e-9) and math.isclose(s.hi, 2.5 + half, rel_tol=1e-9)
    one = st.summarise([0.7])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.sd) and math.isnan(one.lo)
    assert st.summarise([]).n == 0


def test_paired_t_known_sample():
    # differences b − a = [1, 2, 3, 4, −5]: mean 1, squared deviations 0+1+4+9+36 = 50,
    # sd = √(50/4) = √12.5, t = 1 / (√12.5/√5) = 1/√2.5 = 0.632456
    a = [10, 10, 10, 10, 10]
    b = [11, 12, 13, 14, 5]
    t, p = st.paired_t(a, b)
    assert math.isclose(t, 1 / math.sqrt(2.5), rel_tol=1e-12)
    # Student t with 4 df has the closed-form CDF
    #   F(t) = 1/2 + (3/8) u (1 − t²/(12 (1 + t²/4))),  u = t / √(1 + t²/4)
    u = t / math.sqrt(1 + t * t / 4)
    F = 0.5 + 3 / 8 * u * (1 - t * t / (12 * (1 + t * t / 4)))
    assert math.isclose(p, 2 * (1 - F), rel_tol=1e-9)  # two-sided, ≈ 0.5614
    pr = st.Paired(a, b)
    assert pr.n == 5 and pr.diff == 1.0
    assert math.isclose(pr.dz, 1 / math.sqrt(12.5), rel_tol=1e-12)  # Cohen's d_z
    # 95 % CI of the mean difference: 1 ± t(0.975, 4)=2.776445105 · √12.5/√5
    half = 2.7764451051977987 * math.sqrt(12.5) / math.sqrt(5)
    assert math.isclose(pr.lo, 1 - half, rel_tol=1e-9) and math.isclose(pr.hi, 1 + half, rel_tol=1e-9)


def test_wilcoxon_exact_known_sample():
    # |d| = 1..5 → ranks 1..5; W+ = 1+2+3+4 = 10, W− = 5; statistic min(W+, W−) = 5.
    # Exact null: W+ is the sum of a random subset of {1..5} (32 equally likely subsets);
    # subsets with sum ≤ 5: {}, {1}, {2}, {3}, {1,2}, {4}, {1,3}, {5}, {1,4}, {2,3} = 10,
    # so the two-sided p = 2 · 10/32 = 0.625.
    w, p = st.wilcoxon([0] * 5, [1, 2, 3, 4, -5])
    assert w == 5.0 and math.isclose(p, 0.625, rel_tol=1e-12)
    # n = 3, all differences positive: W− = 0, p = 2 · 1/8 = 0.25 (the smallest possible)
    w, p = st.wilcoxon([0, 0, 0], [0.1, 0.3, 0.2])
    assert w == 0.0 and math.isclose(p, 0.25, rel_tol=1e-12)
    # zero differences are dropped; nothing left → undefined, not p = 1
    assert all(math.isnan(v) for v in st.wilcoxon([1, 2], [1, 2]))
    assert all(math.isnan(v) for v in st.paired_t([1, 2], [2, 3]))  # sd(d) = 0


def test_holm_known_vector():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max so far 0.06
    adj = st.holm([0.01, 0.04, 0.03, 0.005])
    assert list(adj) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    # capped at 1, NaN kept out of the count: m = 2 here
    adj = st.holm([0.6, float("nan"), 0.2])
    assert adj[0] == pytest.approx(0.6) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.4)
    # 0.8·2 = 1.6 → capped at 1; then max(1, 0.9·1) = 1
    assert list(st.holm([0.9, 0.8])) == pytest.approx([1.0, 1.0])


def test_paired_table_applies_holm_across_rows():
    rows = st.paired_table([("x", [0, 0, 0, 0, 0], [1, 2, 3, 4, -5]),
                            ("y", [0, 0, 0], [0.1, 0.3, 0.2])])
    (_, x), (_, y) = rows
    # Wilcoxon p: x 0.625, y 0.25 → Holm: 0.25·2 = 0.5, max(0.625·1, 0.5) = 0.625
    assert y.p_w_holm == pytest.approx(0.5) and x.p_w_holm == pytest.approx(0.625)
    assert x.p_t_holm >= x.p_t and y.p_t_holm >= y.p_t


def test_pair_by_seed_uses_shared_finite_seeds():
    import pandas as pd
    a = pd.DataFrame({"seed": [0, 1, 2], "acc": [0.5, 0.6, float("nan")]})
    b = pd.DataFrame({"seed": [2, 1, 0, 3], "acc": [0.9, 0.8, 0.7, 0.1]})
    seeds, va, vb = st.pair_by_seed(a, b, "acc")
    assert seeds == [0, 1] and va == [0.5, 0.6] and vb == [0.7, 0.8]


def test_uniform_decimals():
    # a column of spreads 9.167e-07 and 0.01: 3 significant digits of the smaller → 8
    # decimals, capped at 6
    assert st.decimals_for([9.167e-07, 0.01]) == 6
    assert st.decimals_for([0.0123, 0.5]) == 4
    assert st.fmt_fixed(0.1248, 4) == "0.1248" and st.fmt_fixed(float("nan"), 3) == "–"
    assert st.fmt_p(0.00001) == "<0.001" and st.fmt_p(0.0456) == "0.046"
