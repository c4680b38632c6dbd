"""Local alarm evaluation with CloudWatch's semantics: M of N, the four missing-data treatments, INSUFFICIENT_DATA."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.alarms import evaluate_alarm
from stepml.spec import AlarmSpec

DAY = 86_400.0
PIPE = "p"


def alarm(**kw: Any) -> AlarmSpec:
    base: dict[str, Any] = {
        "name": "a",
        "metric": "MaxNullFraction",
        "comparison": "GreaterThanThreshold",
        "threshold": 0.1,
    }
    return AlarmSpec.model_validate(base | kw)


def history(
    values: list[float | None], *, metric: str = "MaxNullFraction", dims: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One record per day (day i at noon); None = no run that day."""
    out = []
    for i, v in enumerate(values):
        points = (
            []
            if v is None
            else [
                {
                    "metric": metric,
                    "value": v,
                    "unit": "None",
                    "dimensions": {"Pipeline": PIPE, "Step": "check", **(dims or {})},
                }
            ]
        )
        out.append({"timestamp": i * DAY + DAY / 2, "run_id": f"r{i}", "datapoints": points})
    return out


def state_at_end(a: AlarmSpec, values: list[float | None]) -> str:
    now = (len(values) - 1) * DAY + DAY / 2
    return evaluate_alarm(a, history(values), pipeline=PIPE, now=now).state


def test_starts_insufficient_data_without_history() -> None:
    s = evaluate_alarm(alarm(), [], pipeline=PIPE, now=1000.0)
    assert s.state == "INSUFFICIENT_DATA" and s.datapoints == []


@pytest.mark.parametrize(
    ("values", "state"),
    [([0.0], "OK"), ([0.5], "ALARM"), ([0.5, 0.0], "OK"), ([0.0, 0.5], "ALARM")],
)
def test_one_of_one(values: list[float | None], state: str) -> None:
    assert state_at_end(alarm(), values) == state


def test_m_of_n() -> None:
    a = alarm(evaluation_periods=3, datapoints_to_alarm=2)
    assert state_at_end(a, [0.5, 0.0, 0.0]) == "OK"
    assert state_at_end(a, [0.5, 0.0, 0.5]) == "ALARM"
    assert state_at_end(a, [0.5, 0.5, 0.0]) == "ALARM"
    assert state_at_end(a, [0.5, 0.5, 0.0, 0.0]) == "OK"  # the window moved on


# the last period is missing in every case below: how it counts depends on treat_missing_data
@pytest.mark.parametrize(
    ("treat", "values", "state"),
    [
        ("breaching", [0.0, 0.0, None], "ALARM"),
        ("notBreaching", [0.5, 0.5, None], "OK"),
        ("missing", [0.5, None], "INSUFFICIENT_DATA"),
        ("ignore", [0.5, None], "ALARM"),  # state kept
        ("ignore", [0.0, None], "OK"),
        ("missing", [None], "INSUFFICIENT_DATA"),
    ],
)
def test_missing_data_treatments_one_of_one(treat: str, values: list[float | None], state: str) -> None:
    assert state_at_end(alarm(treat_missing_data=treat), values) == state


def test_missing_and_ignore_judge_the_present_datapoints() -> None:
    a = alarm(evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data="missing")
    assert state_at_end(a, [0.5, None, 0.5]) == "ALARM"
    assert state_at_end(a, [0.5, None, 0.0]) == "OK"
    b = alarm(evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data="ignore")
    assert state_at_end(b, [0.5, 0.5, 0.0, None]) == "ALARM"  # 1 breaching + 1 missing could still alarm: kept
    assert state_at_end(b, [0.0, 0.0, 0.0, None]) == "OK"
    c = alarm(evaluation_periods=3, datapoints_to_alarm=3, treat_missing_data="breaching")
    assert state_at_end(c, [0.5, None, None]) == "ALARM"


@pytest.mark.parametrize(
    ("statistic", "state"),
    [("Maximum", "ALARM"), ("Minimum", "OK"), ("Average", "OK"), ("Sum", "ALARM"), ("SampleCount", "ALARM")],
)
def test_statistics_over_a_period(statistic: str, state: str) -> None:
    # two runs in one day: 0.0 and 0.15
    recs = [
        {
            "timestamp": 100.0,
            "run_id": "a",
            "datapoints": [{"metric": "MaxNullFraction", "value": 0.0, "dimensions": {"Pipeline": PIPE}}],
        },
        {
            "timestamp": 200.0,
            "run_id": "b",
            "datapoints": [{"metric": "MaxNullFraction", "value": 0.15, "dimensions": {"Pipeline": PIPE}}],
        },
    ]
    s = evaluate_alarm(alarm(statistic=statistic), recs, pipeline=PIPE, now=300.0)
    assert s.state == state
    assert s.datapoints[-1].samples == 2 and s.datapoints[-1].runs == ("a", "b")


def test_dimensions_select_the_series() -> None:
    recs = history([0.9], metric="DriftScore", dims={"Feature": "age"}) + history(
        [0.0], metric="DriftScore", dims={"Feature": "city"}
    )
    drift = {"metric": "DriftScore", "comparison": "GreaterThanThreshold", "threshold": 0.25}
    on_age = evaluate_alarm(alarm(**drift, dimensions={"Feature": "age"}), recs, pipeline=PIPE, now=DAY / 2)
    on_city = evaluate_alarm(alarm(**drift, dimensions={"Feature": "city"}), recs, pipeline=PIPE, now=DAY / 2)
    no_feature = evaluate_alarm(alarm(**drift), recs, pipeline=PIPE, now=DAY / 2)  # a different metric in CloudWatch
    other_pipeline = evaluate_alarm(alarm(**drift, dimensions={"Feature": "age"}), recs, pipeline="q", now=DAY / 2)
    assert (on_age.state, on_city.state) == ("ALARM", "OK")
    assert no_feature.state == "INSUFFICIENT_DATA"
    assert other_pipeline.state == "INSUFFICIENT_DATA"


def test_to_dict_is_json_ready() -> None:
    import json

    s = evaluate_alarm(alarm(), history([0.5, None]), pipeline=PIPE, now=DAY * 1.5)
    data = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert data["state"] == "INSUFFICIENT_DATA"
    assert [t["state"] for t in data["transitions"]] == ["ALARM", "INSUFFICIENT_DATA"]
