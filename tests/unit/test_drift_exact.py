"""Drift statistics against exact oracles on raw rows (issue 15, item 1): Wasserstein on discrete, mixed and
continuous columns (scipy.stats.wasserstein_distance), PSI under shifts that cross no value, the test used on
discrete numeric columns (scipy.stats.chi2_contingency on the value counts) and its size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, chi2_contingency, wasserstein_distance

from monitoring.config import DriftSettings
from monitoring.drift import compare_column, evaluate_drift, psi_from_shares, psi_numeric, wasserstein_numeric
from monitoring.profile import NumericAccumulator, NumericColumnProfile, quantile_edges

ALPHA = 0.05


def pair(ref: np.ndarray, cur: np.ndarray) -> tuple[NumericColumnProfile, NumericColumnProfile]:
    edges = quantile_edges(ref[np.isfinite(ref)], 1000)
    a, b = NumericAccumulator(edges), NumericAccumulator(edges)
    a.add(ref)
    b.add(cur)
    return a.to_profile(), b.to_profile()


def exact_w(ref: np.ndarray, cur: np.ndarray) -> float:
    """The oracle: scipy's W1 on the raw rows over the reference's population std."""
    return float(wasserstein_distance(ref, cur) / ref.std())


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(15)
    n = 20_000
    ints = rng.integers(0, 10, n).astype(float)
    small = np.round(rng.normal(3, 1.2, n))
    return {
        # binary shares moving +5 points (the review: reported at half their distance, then no_drift)
        "binary +5pt": ((rng.random(n) < 0.30).astype(float), (rng.random(n) < 0.35).astype(float)),
        "binary same": ((rng.random(n) < 0.5).astype(float), (rng.random(n) < 0.5).astype(float)),
        "7 values": (rng.integers(0, 7, n).astype(float), rng.choice(7, n, p=[0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2])),
        # a tiny shift just above each lattice point is a tiny distance, not a whole step
        "integers 0-9 +0.01": (ints, rng.integers(0, 10, n) + 0.01),
        "rounded normal +0.01 sigma": (small, np.round(rng.normal(3, 1.2, n)) + 0.012),
        "integers -0.3": (ints, rng.integers(0, 10, n) - 0.3),
        "lattice vs out-of-range": (ints, rng.integers(0, 10, n) * 1.5),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_wasserstein_is_exact_on_discrete_columns(case: str) -> None:
    # Given a reference whose values are all bin edges (a lattice) and a batch on or off that lattice
    ref, cur = CASES[case]
    r, c = pair(ref, cur)
    # Then the normalized W1 equals scipy's on the raw rows (float rounding only)
    assert wasserstein_numeric(r, c) == pytest.approx(exact_w(ref, cur), rel=1e-9, abs=1e-12)


def test_wasserstein_on_a_mixed_column() -> None:
    # Given a zero-inflated column (40% exact zeros, the rest continuous): the zero atom is exact, the continuous
    # part is binned in 1000 quantile bins
    rng = np.random.default_rng(3)
    n = 50_000

    def draw(scale: float) -> np.ndarray:
        x = rng.exponential(scale, n)
        x[rng.random(n) < 0.4] = 0.0
        return x

    for ref, cur in [(draw(1.0), draw(1.0)), (draw(1.0), draw(1.3)), (draw(1.0), np.where(draw(1.0) > 0, 0.0, 1.0))]:
        assert abs(wasserstein_numeric(*pair(ref, cur)) - exact_w(ref, cur)) < 2e-3


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0, 2.5])
def test_wasserstein_on_continuous_columns_is_within_0_01_of_scipy(shift: float) -> None:
    rng = np.random.default_rng(int(shift * 10) + 1)
    for ref, cur in [
        (rng.normal(size=5000), rng.normal(shift, 1.0, 3000)),
        (rng.lognormal(size=5000), rng.lognormal(shift / 4, 1.0, 3000)),
        (rng.uniform(size=200), rng.uniform(shift, 1 + shift, 50)),
    ]:
        assert abs(wasserstein_numeric(*pair(ref, cur)) - exact_w(ref, cur)) < 0.01


def _nearest_value_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI over the reference's values, each batch value counted at the nearest reference value."""
    values = np.unique(ref)
    mids = (values[1:] + values[:-1]) / 2
    rs = np.bincount(np.searchsorted(mids, ref, side="left"), minlength=values.size) / ref.size
    cs = np.bincount(np.searchsorted(mids, cur, side="left"), minlength=values.size) / cur.size
    return psi_from_shares(rs, cs)


@pytest.mark.parametrize("shift", [0.01, 0.3, -0.45])
def test_psi_is_stable_under_shifts_that_cross_no_value(shift: float) -> None:
    # Given integers 0-9 and a batch from the same distribution moved by less than half the lattice spacing
    rng = np.random.default_rng(9)
    ref, cur = rng.integers(0, 10, 20_000).astype(float), rng.integers(0, 10, 20_000).astype(float)
    r, c = pair(ref, cur)
    r_shifted, c_shifted = pair(ref, cur + shift)
    # Then PSI is the same as without the shift (the review: 1.40 for +0.01) and equals the closed form
    assert psi_numeric(r_shifted, c_shifted, 10) == pytest.approx(psi_numeric(r, c, 10), rel=1e-12)
    assert psi_numeric(r_shifted, c_shifted, 10) == pytest.approx(_nearest_value_psi(ref, cur + shift), rel=1e-12)
    assert psi_numeric(r, c, 10) < 0.01


def test_discrete_numeric_columns_use_the_chi_square_test_on_their_values() -> None:
    rng = np.random.default_rng(11)
    ref = rng.integers(0, 4, 3000).astype(float)
    cur = rng.choice(4, 800, p=[0.3, 0.3, 0.2, 0.2]).astype(float)
    r, c = pair(ref, cur)
    stats, _ = compare_column("x", r, c, DriftSettings())
    table = np.array([np.bincount(ref.astype(int), minlength=4), np.bincount(cur.astype(int), minlength=4)])
    oracle = chi2_contingency(table, correction=False)
    assert stats["test"] == "chi2"
    assert stats["statistic"] == pytest.approx(oracle.statistic, rel=1e-9)
    assert stats["p_value"] == pytest.approx(oracle.pvalue, rel=1e-9)


@pytest.mark.parametrize(("n", "p"), [(200, 0.3), (1000, 0.3), (1000, 0.05), (200, 0.5)])
def test_binary_columns_reject_at_alpha_under_no_drift(n: int, p: float) -> None:
    # Given 1000 null pairs of 0/1 samples (reference 5n), the raw test's rejection rate is within the binomial
    # 99% interval of alpha (KS on a 0/1 column rejected at a fraction of alpha: its p-values assume continuity)
    rng = np.random.default_rng(n + int(p * 100))
    trials = 1000
    rejected = 0
    settings = DriftSettings()
    for _ in range(trials):
        r, c = pair((rng.random(5 * n) < p).astype(float), (rng.random(n) < p).astype(float))
        stats, _ = compare_column("x", r, c, settings)
        rejected += stats["p_value"] < ALPHA
    lo, hi = binom.interval(0.99, trials, ALPHA)
    assert lo / trials <= rejected / trials <= hi / trials, rejected / trials


def test_binary_share_moving_five_points_is_drift() -> None:
    # Given the review's case: shares 0.30 -> 0.35 and 0.10 -> 0.15 at 20k rows (true W 0.11 and 0.17 sigma)
    rng = np.random.default_rng(12)
    n = 20_000
    refs, curs = {}, {}
    for name, p in [("a", 0.30), ("b", 0.10)]:
        ref, cur = (rng.random(n) < p).astype(float), (rng.random(n) < p + 0.05).astype(float)
        refs[name], curs[name] = pair(ref, cur)
        assert exact_w(ref, cur) > 0.1
    report = evaluate_drift(refs, curs, DriftSettings())
    assert [c.verdict for c in report.columns] == ["drift", "drift"]


@pytest.mark.parametrize(("old", "new"), [(0.0, -5.0), (1.0, 6.0)])
def test_values_far_outside_a_discrete_range_are_their_own_cell(old: float, new: float) -> None:
    # Given a 0/1 column whose shares stay put but 5% of one value moves far outside the range
    rng = np.random.default_rng(13)
    ref, cur = (rng.random(5000) < 0.5).astype(float), (rng.random(2000) < 0.5).astype(float)
    moved = cur.copy()
    moved[np.flatnonzero(cur == old)[:100]] = new
    r, c = pair(ref, moved)
    stats, _ = compare_column("x", r, c, DriftSettings())
    # Then the chi-square test sees them (scipy on the cells: the two values and the far one)
    cells = np.array([[np.sum(ref == 0), np.sum(ref == 1), 0], [np.sum(moved == 0), np.sum(moved == 1), 100]])
    assert stats["test"] == "chi2" and stats["p_value"] < 1e-10
    assert stats["statistic"] == pytest.approx(chi2_contingency(cells, correction=False).statistic, rel=1e-9)
