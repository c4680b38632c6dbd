"""The notification Lambda: on an execution's status change, a gokart-style summary to the SNS topic.

An EventBridge rule sends ``Step Functions Execution Status Change`` events for the pipeline's state machine.
:func:`summarize` (pure) reads the execution history's state names - the compiler names every state
``"<step>: <phase>"`` - to tell, per step, whether it was cached, ran or failed, how long it took and the failing
step's error; the handler fetches the history, formats, and publishes. It also writes the execution's run record
(:func:`run_record`, ``<pipeline>/runs/<run id>.json`` in the artifact bucket, the local runner's format), so
``stepml.load(step, run=<execution name>, root="s3://<bucket>")`` reads any production run.

The summary is :mod:`stepml.core.notice`'s (the local runner's ``--notify`` sends the same), published once with
``MessageStructure="json"``: the chat integration's custom-notification event as ``default`` (Slack through Amazon
Q Developer in chat applications, which drops other messages), the text for e-mail subscribers. Example::

    ===== stepml run summary: job-matching =====
    run 2026-05-01T03-00-00 FAILED after 14m 3s
    * 2 cached: extract_train, train
    * 1 ran: extract_score (1m 2s)
    * 1 failed: score (12m 0s) - States.TaskFailed: ...
    * 1 not run: check
    This run looks :( because there were failed steps
    console: https://...
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.fastpath import ALL_CACHED
from stepml.core.notice import Notice, run_notice
from stepml.core.redact import redact

if TYPE_CHECKING:
    from stepml.core.schedule import Run

_FAILED_EVENTS = ("TaskFailed", "LambdaFunctionFailed", "MapRunFailed", "ExecutionFailed", "TaskTimedOut")


@dataclass
class StepReport:
    name: str
    status: str = "not run"  # cached | ran | failed | not run
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    error: str = ""

    @property
    def duration_s(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()


@dataclass
class Summary:
    subject: str
    message: str  # the text (e-mail)
    steps: list[StepReport] = field(default_factory=list)
    notice: Notice | None = None


def _ts(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    return dt.datetime.fromisoformat(str(value))


def step_reports(steps: Sequence[str], history: Iterable[Mapping[str, Any]]) -> list[StepReport]:
    """Per declared step: cached/ran/failed/not run, from the states the execution entered."""
    reports = {s: StepReport(s) for s in steps}
    last_error = ""
    for event in history:
        kind = str(event.get("type", ""))
        when = _ts(event["timestamp"])
        if kind.endswith("Failed") or kind.endswith("TimedOut"):
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            if details.get("error"):
                last_error = redact(f"{details.get('error')}: {str(details.get('cause', ''))[:500]}")
        entered = event.get("stateEnteredEventDetails")
        if not entered:
            continue
        if entered.get("name") == ALL_CACHED:  # the fast path: every step the plan wanted was committed
            for name in _cached_by_plan(entered.get("input")):
                if name in reports:
                    reports[name].status, reports[name].started, reports[name].ended = "cached", when, when
            continue
        step, _, phase = str(entered.get("name", "")).partition(": ")
        report = reports.get(step)
        if report is None or phase in ("in this run?", "not in this run"):  # a schedule's selection, not the step
            continue
        if report.started is None:
            report.started = when
        report.ended = when
        if phase == "cached":
            report.status = "cached"
        elif phase == "release lock" and report.status != "failed":
            report.status = "ran"
        elif phase == "release lock (failed)":
            report.status, report.error = "failed", last_error
        elif report.status == "not run":
            report.status = "running"
    for r in reports.values():
        if r.status == "running":
            r.status = "failed"
            r.error = r.error or last_error
    return list(reports.values())


def _cached_by_plan(state_input: Any) -> list[str]:
    """The steps the plan found committed, from the input of the ``All cached`` state."""
    try:
        cached = json.loads(str(state_input))["plan"]["cached"]
    except (ValueError, KeyError, TypeError):
        return []
    return [name for name, result in cached.items() if isinstance(result, dict) and result.get("status") == "cached"]


def summarize(
    pipeline: str, steps: Sequence[str], detail: Mapping[str, Any], history: Iterable[Mapping[str, Any]], region: str
) -> Summary:
    status = str(detail.get("status", "UNKNOWN"))
    arn = str(detail.get("executionArn", ""))
    start, stop = detail.get("startDate"), detail.get("stopDate")
    total = (_ts(stop) - _ts(start)).total_seconds() if start is not None and stop is not None else None
    reports = step_reports(steps, history)
    console = f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
    notice = run_notice(pipeline, str(detail.get("name", arn)), status, total, reports, link=console)
    return Summary(notice.subject, notice.text(), reports, notice)


_STAMPED = re.compile(r"^\d{8}T\d{6}-")
_RUN_STATUS = {"SUCCEEDED": "succeeded", "RUNNING": "running"}  # FAILED, TIMED_OUT, ABORTED -> failed
_STEP_STATUS = {"not run": "skipped"}


def run_id_for(name: str, started: dt.datetime) -> str:
    """The run id of an execution: its name when it starts with a UTC stamp (``stepml start`` names), otherwise
    the stamp and the name (schedules name executions without one), so run ids sort by start time."""
    return name if _STAMPED.match(name) else f"{started.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S')}-{name}"


def run_record(
    plan_input: Mapping[str, Any],
    params: Mapping[str, Any],
    detail: Mapping[str, Any],
    reports: Sequence[StepReport],
    *,
    bucket: str,
    resolved: Mapping[str, Any] | None = None,
    run: Run | None = None,  # the run's date and steps, as the plan Lambda found them
) -> dict[str, Any] | None:
    """The execution as a run record (``stepml.core.runs``, what ``stepml status`` and ``stepml.load(step, run=...)``
    read): each step's key from :func:`stepml.core.plan.make_plan` on the execution's parameters, the same function
    and input the plan Lambda used. None when the parameters do not plan (the run failed before any step)."""
    from stepml.core.layout import step_prefix
    from stepml.core.plan import PlanInput, make_plan, recorded
    from stepml.core.runs import RunRecord, StepOutcome
    from stepml.errors import StepmlError

    try:
        plan = make_plan(
            PlanInput.from_json(dict(plan_input)),
            dict(params),
            recorded(resolved or {}),
            run_date=None if run is None else run.run_date,
            targets=None if run is None else run.targets,
        )
    except StepmlError:
        return None
    started = _ts(detail["startDate"])
    stop = detail.get("stopDate")
    by_name = {r.name: r for r in reports}
    steps = []
    for s in plan.steps:
        r = by_name.get(s.name) or StepReport(s.name)
        steps.append(
            StepOutcome(
                name=s.name,
                type=s.type,
                key=s.key,
                status=_STEP_STATUS.get(r.status, r.status),
                duration_s=r.duration_s or 0.0,
                output=f"s3://{bucket}/{step_prefix(plan.pipeline, s.name, s.key)}",
                error=r.error or None,
                error_type=r.error.partition(":")[0] if r.error else None,
            )
        )
    record = RunRecord(
        run_id=run_id_for(str(detail.get("name", "")), started),
        pipeline=plan.pipeline,
        params=plan.params,
        root=f"s3://{bucket}",
        started_at=started.timestamp(),
        finished_at=_ts(stop).timestamp() if stop is not None else None,
        status=_RUN_STATUS.get(str(detail.get("status")), "failed"),
        steps=steps,
        execution_arn=str(detail.get("executionArn", "")),
    )
    return record.to_json()


def _resolved(s3: Any, bucket: str, pipeline: str, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """What the execution's plan resolved (model lookups), as the plan Lambda recorded it; {} without lookups."""
    if not name or not any(s.get("lookup") for s in config["plan_input"]["steps"]):
        return {}
    from stepml.core.layout import plan_record_key

    try:
        body = s3.get_object(Bucket=bucket, Key=plan_record_key(pipeline, name))["Body"].read()
    except Exception:  # the plan failed before recording: run_record then finds no plan either
        return {}
    data = json.loads(body)
    return dict(data.get("resolved", {})) if isinstance(data, dict) else {}


def _run(config: Mapping[str, Any], detail: Mapping[str, Any]) -> Run | None:
    """What the execution's input asked for (the same function as the plan Lambda's: the run's date comes from
    its scheduled time, or its start); None when the input does not plan (the run failed before any step)."""
    from stepml.cloud.handlers.plan import schedules
    from stepml.core.schedule import run_of
    from stepml.errors import StepmlError

    try:
        execution_input = json.loads(detail.get("input") or "{}") or {}
        return run_of(schedules(config), execution_input, _ts(detail["startDate"]))
    except (StepmlError, ValueError, TypeError, AttributeError):
        return None


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    import boto3

    from stepml.cloud.handlers._config import load_config

    config = load_config()
    detail = dict(event.get("detail") or {})
    sfn = boto3.client("stepfunctions")
    if "input" not in detail or "startDate" not in detail:
        described = sfn.describe_execution(executionArn=detail["executionArn"])
        detail.setdefault("input", described.get("input"))
        detail.setdefault("startDate", described["startDate"])
        detail.setdefault("stopDate", described.get("stopDate"))
    history: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=detail["executionArn"]):
        history.extend(page["events"])
    pipeline = config["plan_input"]["pipeline"]
    run = _run(config, detail)
    steps = [s["name"] for s in config["plan_input"]["steps"]]
    if run is not None and run.targets:  # a schedule's run: its steps and what they need
        from stepml.core.plan import PlanInput, wanted

        keep = wanted(PlanInput.from_json(config["plan_input"]), run.targets)
        steps = [s for s in steps if s in keep]
    summary = summarize(pipeline, steps, detail, history, os.environ.get("AWS_REGION", "us-east-1"))
    bucket = os.environ["ARTIFACT_BUCKET"]
    params = run.params if run is not None else {}
    resolved = _resolved(boto3.client("s3"), bucket, pipeline, str(detail.get("name", "")), config)
    record = (
        run_record(config["plan_input"], params, detail, summary.steps, bucket=bucket, resolved=resolved, run=run)
        if run is not None
        else None
    )
    if record is not None:
        from stepml.core.layout import run_key

        boto3.client("s3").put_object(
            Bucket=bucket,
            Key=run_key(pipeline, record["run_id"]),
            Body=json.dumps(record, indent=2).encode(),
            ContentType="application/json",
        )
    message = summary.notice.sns_message() if summary.notice is not None else summary.message
    boto3.client("sns").publish(
        TopicArn=os.environ["TOPIC_ARN"], Subject=summary.subject, Message=message, MessageStructure="json"
    )
    return {
        "subject": summary.subject,
        "steps": {r.name: r.status for r in summary.steps},
        "message": json.dumps(summary.message),
        "run_id": record["run_id"] if record is not None else None,
    }
