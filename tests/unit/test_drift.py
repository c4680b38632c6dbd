"""Drift statistics: the issue's statistical acceptance tests (seeded) and degenerate inputs."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom, ks_2samp, norm

from monitoring.config import DriftSettings
from monitoring.drift import (
    adjust_pvalues,
    chi2_homogeneity,
    evaluate_drift,
    ks_from_counts,
    ks_pvalue,
    psi_numeric,
    wasserstein_numeric,
)
from monitoring.profile import (
    OTHER,
    CategoricalAccumulator,
    NumericAccumulator,
    NumericColumnProfile,
    quantile_edges,
)

ALPHA = 0.05


def numeric_pair(
    ref: np.ndarray, cur: np.ndarray, bins: int = 1000
) -> tuple[NumericColumnProfile, NumericColumnProfile]:
    finite = ref[np.isfinite(ref)]
    edges = quantile_edges(finite, bins)
    a, b = NumericAccumulator(edges), NumericAccumulator(edges)
    a.add(ref)
    b.add(cur)
    return a.to_profile(), b.to_profile()


def categorical_pair(ref: list[Any], cur: list[Any]) -> tuple[Any, Any]:
    a, b = CategoricalAccumulator(), CategoricalAccumulator()
    a.add_counts((v, 1) for v in ref)
    b.add_counts((v, 1) for v in cur)
    ra = a.to_profile(None, 50)
    return ra, b.to_profile([k for k in ra["frequencies"] if k != OTHER])


def ks_p(ref: np.ndarray, cur: np.ndarray) -> float:
    r, c = numeric_pair(ref, cur)
    d = ks_from_counts(r["bin_counts"], c["bin_counts"], r["edge_counts"], c["edge_counts"])
    return ks_pvalue(d, c["count"], r["count"])


def interval(trials: int, p: float) -> tuple[float, float]:
    lo, hi = binom.interval(0.99, trials, p)
    return lo / trials, hi / trials


# ---------------------------------------------------------------------------------------------- calibration


@pytest.mark.parametrize(("n", "trials"), [(50, 1000), (200, 1000), (1000, 600), (10_000, 300)])
def test_ks_false_positive_rate_is_alpha(n: int, trials: int) -> None:
    # Given two samples from the same distribution, n = m
    rng = np.random.default_rng(1000 + n)
    rejections = sum(ks_p(rng.normal(size=n), rng.normal(size=n)) < ALPHA for _ in range(trials))
    rate = rejections / trials
    # Then the rejection rate is within the binomial 99% interval of alpha. At n = 50 the statistic lives on a
    # lattice of 1/50 steps, so no test (scipy's exact one included) can reject with probability exactly
    # alpha: the attainable size is P(D >= 0.28) = 0.039; the interval is taken around that size.
    size = ALPHA
    if n == 50:
        size = float(ks_2samp(np.arange(50), np.arange(50) + 14, method="exact").pvalue)
        assert 0.035 < size < ALPHA
    lo, hi = interval(trials, size)
    assert lo <= rate <= hi, (n, rate, (lo, hi))


@pytest.mark.parametrize(("n", "trials"), [(50, 1000), (200, 1000), (1000, 600), (10_000, 300)])
def test_chi_square_false_positive_rate_is_alpha(n: int, trials: int) -> None:
    rng = np.random.default_rng(2000 + n)
    p = [0.4, 0.3, 0.2, 0.1]
    rejections = 0
    for _ in range(trials):
        _, _, pv = chi2_homogeneity(rng.multinomial(n, p), rng.multinomial(n, p))
        rejections += pv < ALPHA
    lo, hi = interval(trials, ALPHA)
    assert lo <= rejections / trials <= hi, (n, rejections / trials, (lo, hi))


@pytest.mark.parametrize("n", [1000, 10_000])
def test_psi_under_no_drift_matches_its_expectation(n: int) -> None:
    # (B - 1)(1/n + 1/m) with B = 10 reference-quantile bins, n = m
    rng = np.random.default_rng(3000 + n)
    values = [psi_numeric(*numeric_pair(rng.normal(size=n), rng.normal(size=n)), bins=10) for _ in range(300)]
    expected = 9 * (2 / n)
    assert abs(np.mean(values) / expected - 1) < 0.05, (np.mean(values), expected)


@pytest.mark.parametrize("d", [0.1, 0.5, 1.0])
def test_gaussian_mean_shift_statistics(d: float) -> None:
    rng = np.random.default_rng(int(d * 10))
    n = 200_000
    ref, cur = numeric_pair(rng.normal(size=n), rng.normal(loc=d, size=n))
    ks = ks_from_counts(ref["bin_counts"], cur["bin_counts"], ref["edge_counts"], cur["edge_counts"])
    assert abs(ks - (2 * norm.cdf(d / 2) - 1)) < 0.01
    assert abs(wasserstein_numeric(ref, cur) - d) < 0.01


def test_power_half_sigma_shift_at_200() -> None:
    rng = np.random.default_rng(4)
    settings = DriftSettings()
    detected = 0
    trials = 200
    for _ in range(trials):
        ref, cur = numeric_pair(rng.normal(size=200), rng.normal(loc=0.5, size=200))
        report = evaluate_drift({"x": ref}, {"x": cur}, settings)
        detected += report.columns[0].verdict == "drift"
    assert detected / trials >= 0.8


@pytest.mark.parametrize("n", [1000, 5000])
def test_no_drift_verdicts_across_many_columns(n: int) -> None:
    # 20 unchanged columns, 20 repetitions (400 column verdicts): the effect-size gate and the BH correction
    # keep them quiet; at n = 1000 a 0.1-sigma Wasserstein threshold is 2.5x the sampling noise, so a rare
    # flag is allowed there, at n = 5000 none
    rng = np.random.default_rng(5)
    flagged = 0
    datasets = 0
    for _ in range(20):
        refs, curs = {}, {}
        for j in range(20):
            refs[f"c{j}"], curs[f"c{j}"] = numeric_pair(rng.normal(size=n), rng.normal(size=n))
        report = evaluate_drift(refs, curs, DriftSettings())
        flagged += sum(c.verdict == "drift" for c in report.columns)
        datasets += report.dataset_verdict == "drift"
    assert flagged <= (0 if n >= 5000 else 2), flagged
    assert datasets <= (0 if n >= 5000 else 2)


def test_binned_ks_equals_scipy_on_small_samples() -> None:
    rng = np.random.default_rng(6)
    for _ in range(50):
        a, b = rng.normal(size=60), rng.normal(0.3, size=45)
        r, c = numeric_pair(a, b)
        d = ks_from_counts(r["bin_counts"], c["bin_counts"], r["edge_counts"], c["edge_counts"])
        assert d == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_discrete_columns_are_exact() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 5, 3000).astype(float), rng.integers(0, 6, 2000).astype(float)
    r, c = numeric_pair(a, b)
    d = ks_from_counts(r["bin_counts"], c["bin_counts"], r["edge_counts"], c["edge_counts"])
    assert d == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    assert wasserstein_numeric(r, c) > 0


def test_unseen_category_is_drift() -> None:
    ref = ["a"] * 500 + ["b"] * 500
    cur = ["a"] * 300 + ["b"] * 300 + ["new"] * 400
    r, c = categorical_pair(ref, cur)
    report = evaluate_drift({"k": r}, {"k": c}, DriftSettings())
    col = report.columns[0]
    assert col.verdict == "drift" and col.extra["unseen_share"] == pytest.approx(0.4)


def test_adjust_pvalues() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    bh = adjust_pvalues(p, "bh")
    # BH: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.0533, 0.0533, 0.5 (monotone from the top)
    assert bh == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert adjust_pvalues(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 1.0])
    assert adjust_pvalues(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert adjust_pvalues(p, "none") == p
    assert adjust_pvalues([], "bh") == []


def test_min_sample_size_gives_insufficient_data() -> None:
    rng = np.random.default_rng(8)
    ref, cur = numeric_pair(rng.normal(size=10_000), rng.normal(loc=3, size=50))
    report = evaluate_drift({"x": ref}, {"x": cur}, DriftSettings())
    assert report.columns[0].verdict == "insufficient_data"
    assert report.dataset_verdict == "insufficient_data" and report.drifted_share == 0.0


def test_per_column_overrides() -> None:
    rng = np.random.default_rng(9)
    ref, cur = numeric_pair(rng.normal(size=5000), rng.normal(loc=0.3, size=5000))
    base = evaluate_drift({"x": ref}, {"x": cur}, DriftSettings())
    assert base.columns[0].verdict == "drift"
    loose = DriftSettings.model_validate({"columns": {"x": {"threshold": 0.5}}})
    assert evaluate_drift({"x": ref}, {"x": cur}, loose).columns[0].verdict == "no_drift"
    off = DriftSettings.model_validate({"columns": {"x": {"enabled": False}}})
    assert evaluate_drift({"x": ref}, {"x": cur}, off).columns[0].verdict == "insufficient_data"
    psi = DriftSettings.model_validate({"columns": {"x": {"effect": "psi"}}})
    col = evaluate_drift({"x": ref}, {"x": cur}, psi).columns[0]
    assert col.effect == "psi" and col.value == col.psi


# ---------------------------------------------------------------------------------------------- degenerate inputs


def _finite_everywhere(obj: Any) -> None:
    text = json.dumps(obj, allow_nan=False, default=lambda o: o.__dict__)
    assert "NaN" not in text and "Infinity" not in text


DEGENERATE = {
    "empty-current": (np.random.default_rng(0).normal(size=500), np.array([])),
    "empty-both": (np.array([]), np.array([])),
    "constant-same": (np.full(500, 3.0), np.full(500, 3.0)),
    "constant-shifted": (np.full(500, 3.0), np.full(500, 4.0)),
    "all-null-current": (np.random.default_rng(0).normal(size=500), np.full(500, np.nan)),
    "all-null-reference": (np.full(500, np.nan), np.random.default_rng(0).normal(size=500)),
    "infinities": (np.array([np.inf, -np.inf, 1.0] * 200), np.array([np.inf, 2.0, 5.0] * 200)),
    "huge": (np.array([1e308, -1e308] * 300), np.array([1e308, 1e307] * 300)),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_numeric_inputs_stay_finite(case: str) -> None:
    ref_values, cur_values = DEGENERATE[case]
    ref, cur = numeric_pair(ref_values, cur_values)
    report = evaluate_drift({"x": ref}, {"x": cur}, DriftSettings())
    col = report.columns[0]
    for v in (col.statistic, col.p_value, col.p_adjusted, col.psi, col.value, report.drifted_share):
        assert math.isfinite(v)
    assert col.wasserstein is None or math.isfinite(col.wasserstein)
    _finite_everywhere([ref, cur])
    if case == "constant-shifted":
        assert col.verdict == "drift"
    if case in ("constant-same",):
        assert col.verdict == "no_drift"


@pytest.mark.parametrize(
    ("ref", "cur"),
    [([], []), (["a"] * 200, []), (["a"] * 200, ["a"] * 200), (["a"] * 200, ["z"] * 200), ([None] * 200, ["a"] * 200)],
    ids=["empty", "empty-current", "single-category", "unseen-only", "all-null-reference"],
)
def test_degenerate_categorical_inputs_stay_finite(ref: list[Any], cur: list[Any]) -> None:
    r, c = categorical_pair(ref, cur)
    report = evaluate_drift({"k": r}, {"k": c}, DriftSettings())
    col = report.columns[0]
    for v in (col.statistic, col.p_value, col.psi, col.value):
        assert math.isfinite(v)
    _finite_everywhere([r, c])
