"""Check results -> metrics: the result document against its JSON Schema, EMF validity, the history record."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring.checks import run_checks
from monitoring.config import CheckConfig
from monitoring.metrics import (
    CHECK_METRICS,
    Datapoint,
    emf_documents,
    history_key,
    history_record,
    metrics_from_report,
    put_metrics,
)
from monitoring.profile import build_profile
from stepml.core.steptypes import Registry

ROOT = Path(__file__).resolve().parents[2]


def _schema(name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / name).read_text()))


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n),
            "k": rng.choice(["a", "b", "c"], n).astype(object),
            "flag": rng.integers(0, 2, n),
            "prediction": rng.random(n) < 0.3,
        }
    )


def _report(tmp_path: Path, rows: int, shift: float = 0.0) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    reference = build_profile(
        _frame(5000, 1), numeric=["x", "flag"], categorical=["k", "prediction"], prediction="prediction"
    )
    cur = _frame(rows, 2, shift)
    feats = tmp_path / "features.parquet"
    preds = tmp_path / "preds.parquet"
    pq.write_table(pa.Table.from_pandas(cur[["x", "k", "flag"]]), feats)
    pq.write_table(pa.table({"prediction": cur["prediction"].to_numpy(), "score": np.linspace(0, 1, rows)}), preds)
    report = run_checks([feats], CheckConfig(), reference=reference, prediction_paths=[preds])
    return report.to_dict(), report, reference


@pytest.mark.parametrize(("rows", "shift"), [(2000, 0.0), (2000, 1.0), (50, 0.0), (0, 0.0)])
def test_report_matches_schema_and_is_finite(tmp_path: Path, rows: int, shift: float) -> None:
    doc, report, reference = _report(tmp_path, rows, shift)
    text = json.dumps(doc, allow_nan=False)
    _schema("checks.schema.json").validate(json.loads(text))
    _schema("profile.schema.json").validate(reference)
    _schema("profile.schema.json").validate(report.current_profile)
    drift = {c["column"]: c["status"] for c in doc["checks"] if c["name"] == "drift"}
    if rows == 2000 and shift:
        assert drift["x"] == "fail" and doc["drift"]["dataset"]["verdict"] == "drift"
    elif rows == 2000:
        assert set(drift.values()) == {"pass"}
    else:  # 50 rows or none: no verdict, never a failure
        assert set(drift.values()) == {"insufficient_data"}
        assert doc["drift"]["dataset"]["verdict"] == "insufficient_data"


def test_metrics_and_emf(tmp_path: Path) -> None:
    doc, report, _ = _report(tmp_path, 2000, 1.0)
    points = metrics_from_report(
        doc, pipeline="jm", step="check", profile=report.current_profile, validation_metric=0.8
    )
    names = {p.metric for p in points}
    check = Registry().get("check")
    assert check is not None and names <= set(check.metrics)  # what the check type declares, alarms may watch
    assert set(check.metrics) == CHECK_METRICS  # the type's declaration is the monitoring catalog
    assert names == {
        "RowCount",
        "NullFraction",
        "MaxNullFraction",
        "NonFiniteFraction",
        "MaxNonFiniteFraction",
        "DriftScore",
        "DriftedColumnsShare",
        "PredictionDrift",
        "FailedChecks",
        "FailedExpectations",
        "PredictionMean",
        "ValidationMetric",
    }
    by = {(p.metric, p.dimensions.get("Feature")): p.value for p in points}
    assert by[("RowCount", None)] == 2000
    assert by[("PredictionMean", None)] == pytest.approx(0.5)  # mean of score
    assert by[("DriftScore", "x")] > 0.25
    docs = emf_documents(points, timestamp_ms=1_700_000_000_000)
    seen = set()
    for d in docs:
        json.dumps(d, allow_nan=False)
        meta = d["_aws"]
        assert isinstance(meta["Timestamp"], int)
        (directive,) = meta["CloudWatchMetrics"]
        assert directive["Namespace"] == "stepml"
        assert directive["Dimensions"][0][0] == "Pipeline"
        assert directive["Dimensions"][1][:2] == ["Pipeline", "Step"]
        for dims in directive["Dimensions"]:
            assert all(isinstance(d[k], str) for k in dims)
        assert "service" not in d
        for m in directive["Metrics"]:
            value = d[m["Name"]]
            values = value if isinstance(value, list) else [value]
            assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)
            seen.add(m["Name"])
    assert seen == names


def test_small_batch_emits_no_drift_metrics(tmp_path: Path) -> None:
    doc, report, _ = _report(tmp_path, 50)
    names = {p.metric for p in metrics_from_report(doc, pipeline="jm", step="check", profile=report.current_profile)}
    assert "DriftScore" not in names and "DriftedColumnsShare" not in names
    assert "RowCount" in names


def test_history_record_and_key() -> None:
    rec = history_record([], pipeline="jm", step="check", run_id="r1", timestamp=1.5)
    assert rec["schema"] == "stepml.metrics/1" and rec["run_id"] == "r1"
    assert history_key("jm", "r1", 1.5) == "jm/metrics/0000000001500-r1.json"
    assert history_key("jm", "r2", 10.0) > history_key("jm", "r1", 1.5)


def test_put_metrics_sends_each_datapoint_with_and_without_step() -> None:
    # Given a history record of two datapoints
    points = [
        Datapoint("RowCount", 2000.0, "Count", {"Pipeline": "jm", "Step": "check"}),
        Datapoint("NullFraction", 0.25, "None", {"Pipeline": "jm", "Step": "check", "Feature": "skill_score"}),
    ]
    rec = history_record(points, pipeline="jm", step="check", run_id="r1", timestamp=1_780_000_000.0)

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def put_metric_data(self, **kwargs: Any) -> None:
            self.calls.append(kwargs)

    # When it is published in batches of 3
    client = Recorder()
    assert put_metrics(client, rec, batch=3) == 4
    # Then CloudWatch gets every datapoint under both dimension sets, at the record's time, in the stepml namespace
    assert [c["Namespace"] for c in client.calls] == ["stepml", "stepml"]
    items = [i for c in client.calls for i in c["MetricData"]]
    assert [(i["MetricName"], [d["Name"] for d in i["Dimensions"]], i["Value"], i["Unit"]) for i in items] == [
        ("RowCount", ["Pipeline", "Step"], 2000.0, "Count"),
        ("RowCount", ["Pipeline"], 2000.0, "Count"),
        ("NullFraction", ["Pipeline", "Step", "Feature"], 0.25, "None"),
        ("NullFraction", ["Pipeline", "Feature"], 0.25, "None"),
    ]
    assert {i["Timestamp"].timestamp() for i in items} == {1_780_000_000.0}


def test_expectation_suite_from_profile(tmp_path: Path) -> None:
    from monitoring.expectations import suite_definition, validate

    reference = build_profile(_frame(5000, 1), numeric=["x", "flag"], categorical=["k"])
    config = CheckConfig.model_validate({"columns": {"x": {"max_value": 1.0}}})
    defs = suite_definition(reference, config)  # type: ignore[arg-type]
    kinds = {(d.name, d.column) for d in defs}
    assert ("expect_column_values_to_be_in_set", "k") in kinds
    assert ("expect_column_values_to_be_between", "x") in kinds
    cur = _frame(1000, 3)
    cur.loc[:99, "k"] = "zzz"  # 10% unseen
    cur.loc[:199, "flag"] = None  # 20% null
    results = {(r.name, r.column): r for r in validate(cur, defs)}
    unseen = results[("expect_column_values_to_be_in_set", "k")]
    assert unseen.status == "fail" and unseen.value == pytest.approx(0.1)
    nulls = results[("expect_column_values_to_not_be_null", "flag")]
    assert nulls.status == "fail" and nulls.value == pytest.approx(0.2)
    rng = results[("expect_column_values_to_be_between", "x")]
    assert rng.status == "fail" and rng.value == pytest.approx(float((cur["x"] > 1.0).mean()))
    assert results[("expect_column_to_exist", "x")].status == "pass"
    assert not list(tmp_path.glob("**/gx")) and not (Path.cwd() / "gx").exists()
