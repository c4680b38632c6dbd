"""Score and prediction drift (issue 15, item 5); failed checks as metrics and all-null features (item 6).

Oracles: scipy's ks_2samp and wasserstein_distance on the raw score rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from monitoring.checks import run_checks, with_checks
from monitoring.config import CheckConfig
from monitoring.expectations import run_expectations
from monitoring.metrics import CHECK_METRICS, metrics_from_report
from monitoring.profile import build_reference, profile_warnings


def _features(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x1": rng.normal(shift, 1.0, n), "x2": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)}
    )


def _classify(frame: pd.DataFrame) -> pd.DataFrame:
    score = 1 / (1 + np.exp(-(1.5 * frame["x1"] - 1.3 + 0.3 * frame["x2"])))
    return pd.DataFrame({"prediction": (score > 0.5).astype(int), "score": score})


def _regress(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"prediction": 2.0 * frame["x1"] + frame["x2"]})


def _run(tmp_path: Path, task: str, shift: float, n: int = 2000) -> tuple[Any, dict[str, Any], pd.DataFrame, Any]:
    model = _classify if task == "classification" else _regress
    train, valid = _features(20_000, 1), _features(4000, 2)
    reference = build_reference(
        train,
        model(valid),
        numeric=["x1", "x2"],
        categorical=["c"],
        prediction_kind="categorical" if task == "classification" else "numeric",
    )
    cur = _features(n, 3, shift)
    pq.write_table(pa.Table.from_pandas(cur), tmp_path / "features.parquet")
    pq.write_table(pa.Table.from_pandas(model(cur)), tmp_path / "predictions.parquet")
    report = run_checks(
        [tmp_path / "features.parquet"],
        CheckConfig(),
        reference=reference,
        prediction_paths=[tmp_path / "predictions.parquet"],
    )
    return report, reference, model(valid), model(cur)


@pytest.mark.parametrize(("task", "column"), [("classification", "score"), ("regression", "prediction")])
def test_score_distribution_drift_is_tested_and_counted(tmp_path: Path, task: str, column: str) -> None:
    # Given +1 sigma on the strongest feature: the score distribution moves
    report, reference, valid, cur = _run(tmp_path, task, shift=1.0)
    assert reference["columns"][column]["role"] == "prediction"
    assert reference["columns"][column]["count"] == len(valid)  # out-of-sample rows only
    drift = report.drift["columns"][column]
    # Then its KS and W equal scipy's on the raw rows, and it is a drift verdict
    ref_raw, cur_raw = valid[column].to_numpy(float), cur[column].to_numpy(float)
    assert drift["test"] == "ks"
    assert drift["statistic"] == pytest.approx(ks_2samp(ref_raw, cur_raw).statistic, abs=2e-3)
    assert drift["wasserstein"] == pytest.approx(wasserstein_distance(ref_raw, cur_raw) / ref_raw.std(), abs=0.01)
    assert drift["verdict"] == "drift"
    # ... in the dataset verdict and its share, and as a metric
    dataset = report.drift["dataset"]
    assert column in dataset["drifted"] and dataset["verdict"] == "drift"
    points = metrics_from_report(report.to_dict(), pipeline="p", step="check", profile=report.current_profile)
    by = {(p.metric, p.dimensions.get("Feature")): p.value for p in points}
    assert by[("PredictionDrift", None)] == 1.0
    assert by[("DriftedColumnsShare", None)] == pytest.approx(len(dataset["drifted"]) / dataset["tested_features"])
    assert {p.metric for p in points} <= CHECK_METRICS


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_no_score_drift_on_the_same_distribution(tmp_path: Path, task: str) -> None:
    report, _, _, _ = _run(tmp_path, task, shift=0.0)
    assert report.drift["dataset"]["verdict"] == "no_drift"
    points = metrics_from_report(report.to_dict(), pipeline="p", step="check", profile=report.current_profile)
    assert {(p.metric, p.value) for p in points if p.metric in {"PredictionDrift", "DriftedColumnsShare"}} == {
        ("PredictionDrift", 0.0),
        ("DriftedColumnsShare", 0.0),
    }


def test_failed_checks_and_expectations_are_metrics(tmp_path: Path) -> None:
    # Given a batch where one feature is far out of its reference range (a failed expectation)
    frame = _features(5000, 1)
    reference = build_reference(frame, _classify(frame), numeric=["x1", "x2"], categorical=["c"])
    cur = _features(500, 2)
    cur.loc[:99, "x2"] = 50.0
    path = tmp_path / "cur.parquet"
    pq.write_table(pa.Table.from_pandas(cur), path)
    config = CheckConfig()
    features = {**reference, "columns": {k: v for k, v in reference["columns"].items() if v["role"] == "feature"}}
    report = run_checks([path], config, reference=features)
    report = with_checks(report, run_expectations(features, config, [str(path)]))
    failed = [c.key for c in report.failed]
    assert "expect_column_values_to_be_between:x2" in failed
    points = metrics_from_report(report.to_dict(), pipeline="p", step="check")
    by = {p.metric: p.value for p in points if "Feature" not in p.dimensions}
    assert by["FailedExpectations"] == sum(k.startswith("expect_") for k in failed)
    assert by["FailedChecks"] == sum(not k.startswith(("drift:", "dataset_drift")) for k in failed)


def test_an_all_null_feature_warns_and_fails_a_check(tmp_path: Path) -> None:
    # Given a feature that is NULL in every training row (and every scored row)
    frame = _features(3000, 1)
    frame["empty"] = np.nan
    reference = build_reference(frame, _classify(frame), numeric=["x1", "x2", "empty"], categorical=["c"])
    # Then profiling warns ...
    assert any("'empty'" in w and "no non-null value" in w for w in profile_warnings(reference))
    cur = _features(2000, 2)
    cur["empty"] = np.nan
    path = tmp_path / "cur.parquet"
    pq.write_table(pa.Table.from_pandas(cur), path)
    # ... and the check fails, even where nulls are allowed
    config = CheckConfig.model_validate({"columns": {"empty": {"max_null_fraction": 1.0}}})
    ref_features = {**reference, "columns": {k: v for k, v in reference["columns"].items() if v["role"] == "feature"}}
    report = run_checks([path], config, reference=ref_features)
    checks = {c.key: c for c in report.checks}
    assert checks["all_null:empty"].status == "fail"
    assert checks["all_null:x1"].status == "pass"
    assert checks["drift:empty"].status == "insufficient_data"
    assert "no non-null value" in (checks["drift:empty"].details or {})["reason"]
