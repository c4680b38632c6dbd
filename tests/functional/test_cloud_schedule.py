"""A scheduled execution in the moto rig: its date comes from the scheduled time, in the schedule's time zone, and
it runs the schedule's steps only - so the next day's run computes the next day's data (issue 12, item 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepml.cli.local import scheduled_run
from stepml.core import manifest as mf
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from stepml.store import open_store
from tests.cloud_harness.rig import failures

pytestmark = pytest.mark.slow


def _daily_extract(raw: dict[str, Any]) -> None:
    # the reference daily schedule (as_of: run_date - 1 day, score_days: 1, Asia/Tokyo), running one step
    raw["schedules"]["daily"]["steps"] = ["extract_score"]


def test_a_scheduled_execution_takes_its_date_from_the_scheduled_time(make_pipeline, cloud) -> None:
    pipeline = load_spec(make_pipeline(_daily_extract))
    with cloud(pipeline) as rig:
        # When Scheduler invokes the daily schedule for 03:00 on May 2 in Tokyo (18:00 UTC on May 1)
        first = rig.wait(rig.start_scheduled("daily", "2026-05-01T18:00:00Z"))
        assert first["status"] == "SUCCEEDED", json.dumps(failures(rig, first["executionArn"])[-3:], default=str)
        out = rig.output(first)
        # Then the run's date is May 2 (Tokyo), so as_of is May 1, and only the schedule's step was planned and ran
        assert out["plan"]["run_date"] == "2026-05-02" and out["plan"]["schedule"] == "daily"
        assert out["plan"]["params"]["as_of"] == "2026-05-01" and out["plan"]["params"]["score_days"] == 1
        assert set(out["plan"]["steps"]) == {"extract_score"}
        assert {k: v["status"] for k, v in out["results"].items() if not v.get("skipped")} == {"extract_score": "ran"}
        first_manifest = rig.manifests()["extract_score"]
        assert first_manifest["params"]["as_of"] == "2026-05-01"
        # and the run record the status-change rule files holds those parameters and that step only
        record = rig.notify(first["executionArn"])
        assert record["steps"] == {"extract_score": "ran"}

        # When the next day's invocation runs, it is no cache hit: it extracts the next day
        second = rig.wait(rig.start_scheduled("daily", "2026-05-02T18:00:00Z"))
        out2 = rig.output(second)
        assert out2["plan"]["params"]["as_of"] == "2026-05-02"
        assert out2["results"]["extract_score"]["status"] == "ran"
        assert out2["plan"]["steps"]["extract_score"]["key"] != first_manifest["key"]

        # and the same invocation again (a retry of May 2's) is a cache hit
        again = rig.wait(rig.start_scheduled("daily", "2026-05-01T18:00:00Z"))
        assert rig.output(again)["results"]["extract_score"]["status"] == "cached"

    # and `stepml run --schedule daily --at 2026-05-01T18:00:00Z` locally plans the same key
    store = open_store(str(pipeline.base_dir / "local-artifacts"))
    runner = LocalRunner(pipeline, store)
    run = scheduled_run(pipeline, "daily", "2026-05-01T18:00:00Z", {}, runner.clock())
    record_local = runner.run(run.params, targets=run.targets, run_date=run.run_date)
    assert [s.name for s in record_local.steps] == ["extract_score"]
    local = mf.read_manifest(store, pipeline.name, "extract_score", record_local.steps[0].key)
    assert local is not None and local["key"] == first_manifest["key"] and local["rows"] == first_manifest["rows"]


def test_stepml_start_schedule_starts_as_the_schedule_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """``stepml start --schedule NAME``: the input names the schedule (no scheduled time: the run is dated by its
    start), which the plan reads with the same function as a scheduled invocation."""
    import boto3
    from moto import mock_aws

    from stepml.cloud import ops
    from tests.functional.conftest import CREDENTIALS

    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        definition = json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}})
        arn = sfn.create_state_machine(name="m", definition=definition, roleArn="arn:aws:iam::123456789012:role/r")
        execution = ops.start(sfn, arn["stateMachineArn"], {"score_days": 2}, schedule="daily")
        sent = json.loads(sfn.describe_execution(executionArn=execution)["input"])
    assert sent == {"params": {"score_days": 2}, "schedule": "daily"}
