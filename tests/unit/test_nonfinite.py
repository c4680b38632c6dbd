"""Infinities and values near the float limits (issue 15, item 4): counted, checked and published; no overflow
decides a verdict. Oracles: numpy counts on the raw rows, scipy's W1 computed at a power-of-two scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import wasserstein_distance

from monitoring.checks import run_checks
from monitoring.config import CheckConfig, DriftSettings
from monitoring.drift import evaluate_drift, wasserstein_numeric
from monitoring.metrics import metrics_from_report
from monitoring.profile import NumericAccumulator, NumericColumnProfile, merge_profiles, new_profile, quantile_edges

SCALE = 2.0**-64  # exact: a power of two


def exact_std(x: np.ndarray) -> float:
    s = 2.0 ** -np.frexp(np.abs(x).max())[1]
    return float(np.std(x * s) / s)


def _profile(values: np.ndarray, edges: np.ndarray) -> NumericColumnProfile:
    acc = NumericAccumulator(edges)
    acc.add(values)
    return acc.to_profile()


def scaled_w(ref: np.ndarray, cur: np.ndarray) -> float:
    """scipy's W1 / reference std on the raw rows, computed at power-of-two scales so that nothing overflows."""
    return float(wasserstein_distance(ref * SCALE, cur * SCALE) / SCALE / exact_std(ref))


def test_infinities_fail_a_check_and_are_published(tmp_path: Path) -> None:
    # Given 2% +-inf in one float column and none in another
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000)
    x[rng.choice(1000, 20, replace=False)] = np.where(rng.random(20) < 0.5, np.inf, -np.inf)
    x[:5] = np.nan
    y = rng.normal(size=1000)
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"x": x, "y": y}), path)
    report = run_checks([path], CheckConfig())
    checks = {c.key: c for c in report.checks}
    # Then the share of non-finite values among the non-null ones is a failed check (oracle: numpy on the rows)
    expected = np.isinf(x).sum() / np.count_nonzero(~np.isnan(x))
    assert checks["nonfinite_fraction:x"].value == pytest.approx(expected, rel=1e-12)
    assert checks["nonfinite_fraction:x"].status == "fail"
    assert checks["nonfinite_fraction:y"].status == "pass" and checks["nonfinite_fraction:y"].value == 0.0
    # ... and a metric per column plus the worst one, for an alarm
    points = metrics_from_report(report.to_dict(), pipeline="p", step="check")
    by = {(p.metric, p.dimensions.get("Feature")): p.value for p in points}
    assert by[("NonFiniteFraction", "x")] == pytest.approx(expected)
    assert by[("MaxNonFiniteFraction", None)] == pytest.approx(expected)
    # ... and an override tolerates them
    lenient = run_checks([path], CheckConfig.model_validate({"columns": {"x": {"max_nonfinite_fraction": 0.05}}}))
    assert {c.key: c.status for c in lenient.checks}["nonfinite_fraction:x"] == "pass"


def test_huge_values_in_the_batch_are_drift_not_zero() -> None:
    # Given a normal reference and a batch where 1% of the values are 1e308 (a sentinel)
    rng = np.random.default_rng(2)
    ref = rng.normal(size=5000)
    cur = rng.normal(size=5000)
    cur[:50] = 1e308
    edges = quantile_edges(ref, 1000)
    r, c = _profile(ref, edges), _profile(cur, edges)
    # Then W is finite and equals the exact distance (the review: the tail sum overflowed and became 0)
    w = wasserstein_numeric(r, c)
    assert np.isfinite(w) and w == pytest.approx(scaled_w(ref, cur), rel=1e-6)
    report = evaluate_drift({"x": r}, {"x": c}, DriftSettings())
    assert report.columns[0].verdict == "drift"


def test_huge_values_in_the_reference_keep_an_exact_std() -> None:
    # Given a reference where 1% of the values are +-1e308, and a batch from the same distribution
    rng = np.random.default_rng(3)

    def draw(n: int) -> np.ndarray:
        x = rng.normal(size=n)
        x[rng.random(n) < 0.01] = 1e308
        x[rng.random(n) < 0.01] = -1e308
        return x

    ref, cur = draw(20_000), draw(20_000)
    edges = quantile_edges(ref, 1000)
    r, c = _profile(ref, edges), _profile(cur, edges)
    # Then the reference mean and std are the exact ones (the review: the std overflowed, W became 2.1e307)
    assert r["std"] == pytest.approx(exact_std(ref), rel=1e-9)
    assert r["mean"] == pytest.approx(float(np.mean(ref * SCALE)) / SCALE, rel=1e-9)
    assert wasserstein_numeric(r, c) == pytest.approx(scaled_w(ref, cur), rel=1e-6)
    report = evaluate_drift({"x": r}, {"x": c}, DriftSettings())
    assert report.columns[0].verdict == "no_drift"
    # ... and merging partitions keeps them exact too
    half = len(cur) // 2
    a, b = _profile(cur[:half], edges), _profile(cur[half:], edges)
    merged = merge_profiles(
        new_profile({"x": a}, half, {"bins": 1000, "max_categories": 50}),
        new_profile({"x": b}, half, {"bins": 1000, "max_categories": 50}),
    )
    assert merged["columns"]["x"]["std"] == pytest.approx(c["std"], rel=1e-9)


def test_a_tail_sum_beyond_the_float_range_is_kept_exactly_and_fits_the_schema() -> None:
    import json

    import jsonschema

    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=2000), rng.normal(size=2000)
    cur[:10] = 1.7e308  # ten values: a true excess sum of 1.7e309
    edges = quantile_edges(ref, 1000)
    c = _profile(cur, edges)
    assert c["tail_exponent"] > 0
    assert np.ldexp(c["above_sum"], c["tail_exponent"] - 64) == pytest.approx(
        float(np.sum(cur[:10] * SCALE - edges[-1] * SCALE)), rel=1e-12
    )
    root = Path(__file__).resolve().parents[2]
    schema = json.loads((root / "schemas" / "profile.schema.json").read_text())
    doc = json.loads(json.dumps(new_profile({"x": c}, 2000, {"bins": 1000, "max_categories": 50}), allow_nan=False))
    jsonschema.Draft202012Validator(schema).validate(doc)
