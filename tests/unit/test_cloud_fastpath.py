"""The plan Lambda's fast path: every wanted step committed -> the results, read from the manifest heads, and the
notify Lambda's summary says each step was cached (stepml.cloud.handlers.fastpath)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from stepml.cloud.bundle import lambda_config
from stepml.cloud.handlers.fastpath import ALL_CACHED, cached_results, s3_reader
from stepml.cloud.handlers.notify import summarize
from stepml.core.manifest import MANIFEST_SCHEMA, write_manifest
from stepml.spec import load_spec
from tests.conftest import ROOT
from tests.unit.conftest import BUCKET, planned


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return lambda_config(load_spec(ROOT / "pipeline.yaml"))


def _plan(config: dict[str, Any]) -> dict[str, Any]:
    return planned(config)


def _commit(objects: dict[str, bytes], plan: dict[str, Any], step: str) -> None:
    entry = plan["steps"][step]
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "pipeline": plan["pipeline"],
        "step": step,
        "type": entry["type"],
        "key": entry["key"],
        "prefix": entry["attempt"],
        "files": [{"path": "part-0.parquet", "size": 10}],
        "rows": 3,
        "summary": {"rows": 3},
        "detail": "",
        "run_id": "earlier",
    }
    write_manifest(objects.__setitem__, manifest)


def test_every_step_committed_gives_each_steps_cached_result(config: dict[str, Any]) -> None:
    plan, objects = _plan(config), dict[str, bytes]()
    for step in plan["steps"]:
        _commit(objects, plan, step)
    results = cached_results(objects.get, plan["pipeline"], plan["steps"])
    assert results is not None and set(results) == set(plan["steps"])
    train = results["train"]
    assert train == {
        "status": "cached",
        "key": plan["steps"]["train"]["key"],
        "prefix": plan["steps"]["train"]["attempt"],
        "summary": {"rows": 3},
        "run_id": "earlier",
    }


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda o, k: o.pop(k), "one step not committed"),
        (lambda o, k: o.__setitem__(k, b"{not json"), "a head that is not JSON"),
        (lambda o, k: o.__setitem__(k, b"[]"), "a head of the wrong shape"),
        (lambda o, k: o.__setitem__(k, json.dumps({**json.loads(o[k]), "key": "other"}).encode()), "another key"),
        (
            lambda o, k: o.__setitem__(k, json.dumps({**json.loads(o[k]), "prefix": "job-matching/../x"}).encode()),
            "a prefix outside the step's folder",
        ),
    ],
)
def test_any_step_not_validly_committed_leaves_the_decision_to_the_machine(
    config: dict[str, Any], damage: Any, why: str
) -> None:
    plan, objects = _plan(config), dict[str, bytes]()
    for step in plan["steps"]:
        _commit(objects, plan, step)
    damage(objects, plan["steps"]["gate"]["head_key"])
    assert cached_results(objects.get, plan["pipeline"], plan["steps"]) is None, why


def test_the_look_stops_at_the_first_step_not_committed(config: dict[str, Any]) -> None:
    plan, objects, asked = _plan(config), dict[str, bytes](), list[str]()
    first = next(iter(plan["steps"]))

    def read(key: str) -> bytes | None:
        asked.append(key)
        return objects.get(key)

    assert cached_results(read, plan["pipeline"], plan["steps"]) is None
    assert asked == [plan["steps"][first]["head_key"]]


def test_the_s3_reader_answers_none_for_a_missing_or_forbidden_head(s3: Any, caplog: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="p/steps/a/k/_manifest.head.json", Body=b"{}")
    read = s3_reader(s3, BUCKET)
    assert read("p/steps/a/k/_manifest.head.json") == b"{}"
    assert read("p/steps/a/other/_manifest.head.json") is None
    assert "could not read" not in caplog.text  # a miss is quiet
    assert s3_reader(s3, "no-such-bucket")("p/steps/a/k/_manifest.head.json") is None
    assert "could not read" in caplog.text  # anything else is logged


def test_the_summary_of_a_fast_path_run_says_every_planned_step_was_cached(config: dict[str, Any]) -> None:
    plan = _plan(config)
    cached = {s: {"status": "cached"} for s in plan["steps"]}
    when = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)
    history = [
        {"type": "TaskStateEntered", "timestamp": when, "stateEnteredEventDetails": {"name": "Plan"}},
        {
            "type": "PassStateEntered",
            "timestamp": when,
            "stateEnteredEventDetails": {"name": ALL_CACHED, "input": json.dumps({"plan": {**plan, "cached": cached}})},
        },
    ]
    detail = {"status": "SUCCEEDED", "executionArn": "arn:x", "name": "run-1", "startDate": 0, "stopDate": 1_000}
    steps = [s["name"] for s in config["plan_input"]["steps"]]
    summary = summarize("job-matching", steps, detail, history, "us-east-1")
    assert {r.name: r.status for r in summary.steps} == {s: "cached" for s in steps}
