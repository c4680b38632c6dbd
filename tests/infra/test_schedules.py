"""The schedules in the stacks: one EventBridge Scheduler schedule per spec schedule, the scheduled time in its
input, names AWS accepts, parameters checked at synth."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.cloud.asl.machine import IN_RUN
from tests.conftest import ROOT, write_spec
from tests.infra.conftest import IMAGE_URI, resources, state_machine_definition, synthesize

WEEKLY = {
    "cron": "0 2 * * mon",
    "timezone": "Asia/Tokyo",
    "steps": ["gate"],
    "params": {"as_of": "run_date"},
    "description": "retrain and gate on the history before the run date",
}


def two_schedules(workdir: Path, **weekly: Any) -> Path:
    """The reference pipeline with a second schedule: ``weekly`` trains and gates (and nothing else)."""
    raw: dict[str, Any] = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["schedules"]["weekly"] = {**copy.deepcopy(WEEKLY), **weekly}
    return write_spec(workdir, raw)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("schedules")
    return synthesize(workdir / "cdk.out", spec=two_schedules(workdir / "spec"), nag=False).templates["pipeline"]


def test_one_schedule_per_spec_schedule_each_sending_its_name_params_and_scheduled_time(
    synthesized: dict[str, Any],
) -> None:
    """EventBridge Scheduler replaces ``<aws.scheduler.scheduled-time>`` in the target's input with "The time you
    specified for the schedule to invoke its target, for example, 2022-03-22T18:59:43Z" at each invocation; for a
    Step Functions target the input "must be a well-formed JSON".
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html"""
    schedules = {
        s["Properties"]["Name"]: s["Properties"] for s in resources(synthesized, "AWS::Scheduler::Schedule").values()
    }
    assert set(schedules) == {"stepml-job-matching-dev-daily", "stepml-job-matching-dev-weekly"}
    weekly = schedules["stepml-job-matching-dev-weekly"]
    assert weekly["ScheduleExpression"] == "cron(0 2 ? * 2 *)" and weekly["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert json.loads(weekly["Target"]["Input"]) == {
        "params": {"as_of": "run_date"},
        "schedule": "weekly",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    assert weekly["Description"] == WEEKLY["description"]
    daily = json.loads(schedules["stepml-job-matching-dev-daily"]["Target"]["Input"])
    assert daily["schedule"] == "daily" and daily["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    # one role starts the state machine for both
    assert len({json.dumps(s["Target"]["RoleArn"]) for s in schedules.values()}) == 1
    # and the state machine skips the steps a run leaves out (weekly: no extract_score, score or check)
    definition = json.loads(state_machine_definition(synthesized)[0])
    skip = definition["States"][f"score: {IN_RUN}"]
    assert skip["Choices"] == [{"Variable": "$.plan.steps.score", "IsPresent": True, "Next": "score: cache check"}]
    passed = definition["States"][skip["Default"]]  # an empty result for the step left out, then the next step
    assert passed["ResultPath"] == "$.results.score" and passed["Next"] == f"check: {IN_RUN}"


def test_a_schedule_name_aws_refuses_fails_the_synth(tmp_path: Path) -> None:
    """CreateSchedule ``Name``: length 1-64, pattern ``^[0-9a-zA-Z-_.]+$`` (the API model botocore ships, which
    generates https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html). The name holds
    the pipeline, the stage and the schedule and is never truncated (two schedules would share one), so a name too
    long fails the synth, naming the schedule."""
    import aws_cdk as cdk
    import botocore.session

    from infra.app import build, config_from_context
    from infra.constructs.schedule import SCHEDULE_NAME
    from stepml.errors import SpecError

    shape = botocore.session.get_session().get_service_model("scheduler").operation_model("CreateSchedule")
    assert shape.input_shape is not None
    assert shape.input_shape.members["Name"].metadata == {"min": 1, "max": 64, "pattern": "^[0-9a-zA-Z-_.]+$"}
    assert SCHEDULE_NAME.match("a" * 64) and not SCHEDULE_NAME.match("a" * 65) and not SCHEDULE_NAME.match("a/b")
    spec = two_schedules(tmp_path / "spec")
    app = cdk.App(outdir=str(tmp_path / "out"), context={"image_uri": IMAGE_URI, "spec": str(spec), "stage": "s" * 40})
    with pytest.raises(SpecError) as info:
        build(app, config_from_context(app), nag=False)
    issue = info.value.issues[0]
    assert issue.where.startswith("schedules.") and "is not 1-64 characters" in issue.message
