"""The readout statistics of online experiments (issue 13): SRM, metrics with delta-method intervals, lifts, the
sign test, shadow agreement, and the simulator that checks their error rates over many seeded experiments."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from stepml.errors import ExperimentError, StepInputError
from stepml.experiments import shadow
from stepml.experiments.moments import Moments
from stepml.experiments.simulate import Bernoulli, ClickThrough, Poisson, simulate
from stepml.experiments.stats import (
    compare,
    compare_variants,
    count_winners,
    mean_metric,
    multiple_exposure_share,
    ratio_metric,
    sign_test,
    srm_test,
    variant_moments,
)

Z95 = 1.959963984540054


def within_binomial(hits: int, trials: int, rate: float) -> bool:
    """``hits`` is a plausible count of events of probability ``rate`` (a two-sided 1e-4 band)."""
    low, high = sps.binom.interval(1 - 1e-4, trials, rate)
    return bool(low <= hits <= high)


# --- SRM --------------------------------------------------------------------------------------------------------


def test_srm_matches_pearsons_goodness_of_fit_with_unequal_weights() -> None:
    result = srm_test({"control": 2100, "t1": 950, "t2": 1010}, {"control": 2, "t1": 1, "t2": 1})
    expected = sps.chisquare([2100, 950, 1010], f_exp=[2030, 1015, 1015])
    assert result.chi2 == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.dof == 2
    assert result.expected == {"control": 2030.0, "t1": 1015.0, "t2": 1015.0}
    assert result.alert(0.05) and not result.alert(0.001)


def test_srm_counts_a_weighted_variant_without_units_as_zero() -> None:
    result = srm_test({"A": 100}, {"A": 1, "B": 1})
    assert result.observed == {"A": 100, "B": 0}
    assert result.alert()


@pytest.mark.parametrize(
    ("observed", "weights", "field"),
    [
        ({"A": 10, "C": 3}, {"A": 1, "B": 1}, "observed"),
        ({"A": -1, "B": 3}, {"A": 1, "B": 1}, "observed"),
        ({"A": 1.5, "B": 3}, {"A": 1, "B": 1}, "observed"),
        ({"A": 0, "B": 0}, {"A": 1, "B": 1}, "observed"),
        ({"A": 10}, {"A": 1}, "weights"),
        ({"A": 10, "B": 3}, {"A": 1, "B": 0}, "weights"),
        ({"A": 10, "B": 3}, {"A": 1, "B": float("nan")}, "weights"),
    ],
)
def test_srm_names_the_bad_input(observed, weights, field) -> None:
    with pytest.raises(ExperimentError) as info:
        srm_test(observed, weights)
    assert info.value.field == field
    assert isinstance(info.value, StepInputError)
    assert info.value.with_step("readout").step == "readout"


# --- metrics and lifts ------------------------------------------------------------------------------------------


def test_mean_metric_is_the_mean_with_a_normal_interval() -> None:
    frame = pd.DataFrame({"variant": ["A"] * 4 + ["B"] * 3, "v": [1.0, 2.0, 3.0, 6.0, 0.0, 1.0, 2.0]})
    out = mean_metric(frame, "v", alpha=0.05)
    se = np.std([1, 2, 3, 6], ddof=1) / 2
    assert out["A"].value == 3.0 and out["A"].n == 4
    assert out["A"].std_error == pytest.approx(se)
    assert (out["A"].ci_low, out["A"].ci_high) == pytest.approx((3 - Z95 * se, 3 + Z95 * se))
    assert out["B"].value == 1.0


def test_ratio_metric_is_a_ratio_of_sums_with_the_linearized_variance() -> None:
    # Given clicks and impressions per unit, correlated within a unit
    rng = np.random.default_rng(3)
    y = 1 + rng.poisson(4, 3000)
    x = rng.binomial(y, rng.beta(2, 18, y.size))
    frame = pd.DataFrame({"variant": "A", "clicks": x, "imps": y})
    frame.loc[::2, "variant"] = "B"
    out = ratio_metric(frame, "clicks", "imps")
    for key, part in frame.groupby("variant"):
        name = str(key)
        r = part["clicks"].sum() / part["imps"].sum()
        # the delta method's variance is the variance of the linearized per-unit values (x - R y) / mean(y)
        lin = (part["clicks"] - r * part["imps"]) / part["imps"].mean()
        assert out[name].value == pytest.approx(r)
        assert out[name].std_error == pytest.approx(lin.std(ddof=1) / math.sqrt(len(part)))
        # ... which is larger than the naive binomial error over impressions (units' clicks are correlated)
        assert out[name].std_error > math.sqrt(r * (1 - r) / part["imps"].sum())


def test_compare_gives_absolute_and_relative_lift_with_delta_method_intervals() -> None:
    rng = np.random.default_rng(5)
    c, t = rng.normal(10, 2, 400), rng.normal(11, 3, 500)
    got = compare(c, t)
    se_c, se_t = c.std(ddof=1) / 20, t.std(ddof=1) / math.sqrt(500)
    diff, se = t.mean() - c.mean(), math.hypot(se_c, se_t)
    assert got.absolute_lift == pytest.approx(diff)
    assert got.absolute_ci == pytest.approx((diff - Z95 * se, diff + Z95 * se))
    assert got.p_value == pytest.approx(2 * sps.norm.sf(abs(diff) / se))
    rel, mc, mt = t.mean() / c.mean() - 1, c.mean(), t.mean()
    se_rel = math.sqrt(se_t**2 / mc**2 + mt**2 * se_c**2 / mc**4)
    assert got.relative_lift == pytest.approx(rel)
    assert got.relative_ci == pytest.approx((rel - Z95 * se_rel, rel + Z95 * se_rel))
    assert got.significant


def test_compare_variants_is_compare_per_treatment_and_handles_a_zero_control() -> None:
    frame = pd.DataFrame({"variant": ["c"] * 4 + ["t"] * 4 + ["u"] * 4, "x": [0, 0, 0, 0, 1, 0, 1, 0, 2, 1, 0, 1.0]})
    out = compare_variants(frame, control="c", value="x")
    assert set(out) == {"t", "u"}
    assert out["t"].absolute_lift == 0.5 and out["t"].relative_lift is None and out["t"].relative_ci is None
    direct = compare([0, 0, 0, 0], [2, 1, 0, 1])
    assert out["u"].absolute_ci == pytest.approx(direct.absolute_ci)
    ratio = compare(([1, 2, 0], [3, 4, 2]), ([2, 2, 1], [3, 3, 3]), kind="ratio")
    assert ratio.control_value == pytest.approx(3 / 9) and ratio.treatment_value == pytest.approx(5 / 9)


@pytest.mark.parametrize(
    ("frame", "kwargs", "field"),
    [
        (pd.DataFrame({"variant": ["A", "A", "B", "B"], "x": [1, None, 2, 3]}), {"value": "x"}, "value"),
        (pd.DataFrame({"variant": ["A", "A", "B"], "x": [1, 2, 3]}), {"value": "x"}, "variant"),
        (pd.DataFrame({"variant": ["A", "A", "B", "B"], "x": [1, 2, 3, 4]}), {"value": "nope"}, "value"),
        (pd.DataFrame({"variant": ["A", "A", "B", "B"], "x": [1, 2, 3, 4]}), {"value": "x", "control": "Z"}, "control"),
        (pd.DataFrame({"variant": ["A", "A", "B", "B"], "x": [1, 2, 3, 4]}), {"value": "x", "alpha": 1.5}, "alpha"),
        (
            pd.DataFrame({"variant": ["A", "A", "B", "B"], "x": [1, 2, 3, 4], "y": [0, 0, 1, 1]}),
            {"kind": "ratio", "numerator": "x", "denominator": "y"},
            "denominator",
        ),
    ],
)
def test_bad_metric_inputs_raise_a_named_error(frame, kwargs, field) -> None:
    kwargs.setdefault("control", "A")
    with pytest.raises(ExperimentError) as info:
        compare_variants(frame, **kwargs)
    assert info.value.field == field


def test_multiple_exposure_share_counts_units_seen_in_two_variants() -> None:
    exposures = pd.DataFrame({"unit": [1, 1, 2, 2, 3, 4, 4], "variant": ["A", "B", "A", "A", "B", "B", "A"]})
    got = multiple_exposure_share(exposures)
    assert (got.units, got.multiple, got.share) == (4, 2, 0.5)
    with pytest.raises(ExperimentError, match="'user'"):
        multiple_exposure_share(exposures, unit="user")


@pytest.mark.parametrize(("a", "b"), [(60, 40), (3, 0), (0, 9), (500, 500), (7, 12)])
def test_sign_test_is_the_exact_binomial_test(a: int, b: int) -> None:
    got = sign_test(a, b, ties=17)
    ref = sps.binomtest(a, a + b, 0.5)
    assert got.p_value == pytest.approx(ref.pvalue)
    assert got.preference_a == pytest.approx(a / (a + b))
    assert got.ci == pytest.approx(tuple(ref.proportion_ci(0.95)), abs=1e-9)
    assert got.ties == 17


def test_sign_test_without_decisive_units_and_winner_counts() -> None:
    assert sign_test(0, 0, ties=5).p_value == 1.0
    got = count_winners(["A", "tie", "B", "A", "A"])
    assert (got.wins_a, got.wins_b, got.ties) == (3, 1, 1)
    with pytest.raises(ExperimentError) as info:
        count_winners(["A", "C"])
    assert info.value.field == "winners"


# --- shadow agreement -------------------------------------------------------------------------------------------


def ranking(lists: Mapping[Any, Sequence[object]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(u, item, r) for u, items in lists.items() for r, item in enumerate(items, start=1)],
        columns=["unit", "item", "rank"],
    )


def test_overlap_at_k_per_unit_and_averaged() -> None:
    a = ranking({1: ["x", "y", "z", "w"], 2: ["p", "q"], 3: ["m"], 9: ["a"]})
    b = ranking({1: ["y", "x", "v", "z"], 2: ["p", "q"], 3: ["n"], 7: ["a"]})
    per_unit = shadow.overlap_per_unit(a, b, 3)
    assert per_unit.to_dict() == {1: 2 / 3, 2: 1.0, 3: 0.0}
    got = shadow.overlap_at_k(a, b, 3)
    assert got.value == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert (got.units, got.only_a, got.only_b) == (3, 1, 1)


def random_rankings(rng: np.random.Generator, units: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows_a, rows_b = [], []
    for u in range(units):
        items = rng.permutation(12)
        for i in items[: rng.integers(1, 12)]:
            rows_a.append((u, int(i), float(rng.integers(0, 6))))  # ties in a
        for i in items[rng.integers(0, 3) :]:
            rows_b.append((u, int(i), float(rng.normal())))
    return (pd.DataFrame(rows, columns=["unit", "item", "rank"]) for rows in (rows_a, rows_b))  # type: ignore[return-value]


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_rank_correlation_matches_scipy_per_unit(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shadow, "PAIR_BUDGET", 50)  # several chunks of units in the Kendall calculation
    a, b = random_rankings(np.random.default_rng(11), 60)
    got = shadow.rank_correlation_per_unit(a, b, method=method)  # type: ignore[arg-type]
    ref = sps.spearmanr if method == "spearman" else sps.kendalltau
    expected = {}
    for u, part in a.merge(b, on=["unit", "item"]).groupby("unit"):
        if len(part) >= 2 and part["rank_x"].nunique() > 1:
            expected[u] = ref(part["rank_x"], part["rank_y"])[0]
    assert got.dropna().to_dict() == pytest.approx(expected)
    summary = shadow.rank_correlation(a, b, method=method)  # type: ignore[arg-type]
    assert summary.value == pytest.approx(np.mean(list(expected.values())))
    assert summary.units == len(expected) and summary.undefined == 60 - len(expected)


def test_identical_rankings_agree_fully_and_reversed_ones_anticorrelate() -> None:
    a = ranking({u: list(range(8)) for u in range(5)})
    b = ranking({u: list(range(8))[::-1] for u in range(5)})
    assert shadow.rank_correlation(a, a, method="kendall").value == pytest.approx(1.0)
    assert shadow.rank_correlation(a, b).value == pytest.approx(-1.0)
    assert shadow.overlap_at_k(a, a, 3).value == 1.0 and shadow.overlap_at_k(a, b, 3).value == 0.0
    with pytest.raises(ExperimentError, match="ranked twice"):
        shadow.overlap_at_k(pd.concat([a, a]), b, 3)


def test_score_drift_psi_and_ks() -> None:
    rng = np.random.default_rng(2)
    ref, same, shifted = rng.normal(size=20_000), rng.normal(size=20_000), rng.normal(0.3, 1, 20_000)
    calm, moved = shadow.score_drift(ref, same), shadow.score_drift(ref, shifted)
    assert calm.psi < 0.01 and calm.ks_p_value > 0.01
    assert moved.psi > 0.05 and moved.ks_p_value < 1e-10
    assert moved.ks == pytest.approx(sps.ks_2samp(ref, shifted).statistic)
    with pytest.raises(ExperimentError) as info:
        shadow.score_drift(ref, [0.1, float("nan")])
    assert info.value.field == "b"


# --- the simulator: error rates over many seeded experiments ---------------------------------------------------


def test_moments_from_sums_equal_the_frames_moments() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"variant": rng.choice(["A", "B"], 500), "x": rng.poisson(3, 500), "y": rng.poisson(9, 500)})
    _, m = variant_moments(frame, kind="ratio", numerator="x", denominator="y")
    g = frame.assign(xx=frame.x**2, yy=frame.y**2, xy=frame.x * frame.y).groupby("variant")
    s = g.sum()
    from_sums = Moments.from_sums(g.size(), s.x, s.xx, s.y, s.yy, s.xy)
    for field in ("n", "mean_x", "var_x", "mean_y", "var_y", "cov_xy"):
        assert np.allclose(getattr(from_sums, field), getattr(m, field)), field


@pytest.mark.parametrize("metric", [Bernoulli(0.2), ClickThrough(0.05)], ids=["bernoulli", "ctr"])
def test_aa_alarms_fire_at_their_nominal_rates(metric) -> None:
    # Given 2,000 A/A experiments of 1,000 units split 50/50
    sim = simulate(1000, {"A": 1, "B": 1}, seeds=2000, metric=metric, seed=1)
    srm, metric_p = sim.srm_pvalues(), sim.compare("A", "B").p_value
    # Then the SRM alert and the metric's significance fire at their nominal rates, at each alpha
    for alpha in (0.01, 0.05, 0.2):
        assert within_binomial(int((srm < alpha).sum()), 2000, alpha), ("srm", alpha)
        assert within_binomial(int((metric_p < alpha).sum()), 2000, alpha), ("metric", alpha)


def test_srm_is_calibrated_for_an_uneven_three_way_split() -> None:
    sim = simulate(2000, {"c": 8, "t1": 1, "t2": 1}, seeds=2000, metric=None, seed=2)
    for alpha in (0.01, 0.05, 0.2):
        assert within_binomial(int((sim.srm_pvalues() < alpha).sum()), 2000, alpha), alpha
    assert sim.counts.sum(axis=1).tolist() == [2000] * 2000


@pytest.mark.parametrize("metric", [Bernoulli(0.2), Poisson(1.5), ClickThrough(0.05)], ids=["bern", "pois", "ctr"])
def test_ab_intervals_cover_the_planted_lift(metric) -> None:
    sim = simulate(1000, {"A": 1, "B": 1}, seeds=2000, metric=metric, lift={"B": 0.1}, seed=3)
    lifts = sim.compare("A", "B")
    absolute, relative = sim.true_lift("A", "B")
    assert relative == pytest.approx(0.1)
    covered_abs = int(((lifts.absolute_low <= absolute) & (absolute <= lifts.absolute_high)).sum())
    covered_rel = int(((lifts.relative_low <= relative) & (relative <= lifts.relative_high)).sum())
    assert within_binomial(covered_abs, 2000, 0.95)
    assert within_binomial(covered_rel, 2000, 0.95)


def test_a_broken_split_fires_the_srm_alert_nearly_always() -> None:
    # Given 2% of the treatment's units lost (a logging bug in one arm), 300k units per experiment
    sim = simulate(300_000, {"A": 1, "B": 1}, seeds=20, metric=None, drop={"B": 0.02}, seed=4)
    assert (sim.srm_pvalues() < 0.01).mean() >= 0.95
    assert (sim.counts[:, 1] < sim.counts[:, 0]).all()


def test_the_simulation_is_deterministic_and_validated() -> None:
    one = simulate(500, {"A": 1, "B": 3}, seeds=7, metric=Poisson(2.0), lift={"B": -0.1}, seed=9)
    two = simulate(500, {"A": 1, "B": 3}, seeds=7, metric=Poisson(2.0), lift={"B": -0.1}, seed=9)
    assert np.array_equal(one.counts, two.counts) and one.moments is not None and two.moments is not None
    assert np.array_equal(one.moments.mean_x, two.moments.mean_x)
    other = simulate(500, {"A": 1, "B": 3}, seeds=7, metric=Poisson(2.0), lift={"B": -0.1}, seed=10)
    assert not np.array_equal(one.counts, other.counts)
    for kwargs, field in (({"lift": {"C": 0.1}}, "lift"), ({"drop": {"B": 1.0}}, "drop"), ({"seeds": 0}, "seeds")):
        args = {"seeds": 3, "metric": Bernoulli(0.1), **kwargs}
        with pytest.raises(ExperimentError) as info:
            simulate(100, {"A": 1, "B": 1}, **args)  # type: ignore[arg-type]
        assert info.value.field == field


def test_an_experiment_error_crosses_a_process_boundary_as_itself() -> None:
    from stepml.errors import from_failure, to_failure

    error = srm_error()
    back = from_failure(to_failure(error.with_step("readout")), step="readout")
    assert type(back) is ExperimentError and back.step == "readout" and back.message == error.message


def srm_error() -> ExperimentError:
    with pytest.raises(ExperimentError) as info:
        srm_test({"A": 1, "Z": 2}, {"A": 1, "B": 1})
    assert info.value.step == "experiments" and info.value.message.startswith("observed: ")
    return info.value


@pytest.mark.parametrize(("n_a", "n_b"), [(40, 60), (900, 1200)])
def test_score_drift_ks_p_value_is_scipys_exact_or_asymptotic(n_a: int, n_b: int) -> None:
    rng = np.random.default_rng(n_a)
    a, b = rng.normal(size=n_a), rng.normal(0.2, 1, n_b)
    method = "exact" if n_a * n_b <= 1_000_000 else "asymp"
    assert shadow.score_drift(a, b).ks_p_value == pytest.approx(sps.ks_2samp(a, b, method=method).pvalue)
