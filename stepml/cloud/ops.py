"""Operating a deployed pipeline: start, status, resume, logs. Clients are injected (the CLI builds them).

Every function takes boto3 clients (``sfn``: Step Functions, ``s3``, ``logs``: CloudWatch Logs) so tests pass moto's.
The run tree comes from the execution history - state names read ``"<step>: <phase>"`` - read the same way the
notification does (:func:`stepml.cloud.handlers.notify.step_reports`), and from the step manifests in the bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepml.cloud.handlers.notify import StepReport, step_reports
from stepml.core.manifest import parse_manifest
from stepml.errors import StepmlError

_TERMINAL_FAILED = ("FAILED", "TIMED_OUT", "ABORTED")


class CloudError(StepmlError):
    """An operating command could not find or act on the execution, state machine or step it was given."""


def execution_name(now: dt.datetime | None = None) -> str:
    """A readable, unique execution name (it becomes the run id of every manifest the execution writes)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def start(
    sfn: Any, state_machine_arn: str, params: Mapping[str, Any], *, name: str | None = None, schedule: str | None = None
) -> str:
    """Start an execution with ``{"params": params}`` (validate ``params`` before, with ``stepml.plan``); with
    ``schedule``, as that schedule does - its steps and parameters (``params`` over them), dated by the start."""
    execution_input: dict[str, Any] = {"params": dict(params)}
    if schedule is not None:
        execution_input["schedule"] = schedule
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name or execution_name(), input=json.dumps(execution_input)
    )
    return str(started["executionArn"])


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def artifact_bucket(sfn: Any, state_machine_arn: str) -> str:
    """The artifact bucket, read from the deployed definition (the manifests' ``Bucket``)."""
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"])
    for state in definition["States"].values():
        bucket = state.get("Parameters", {}).get("Bucket")
        if isinstance(bucket, str) and state.get("Resource", "").endswith("s3:getObject"):
            return bucket
    raise CloudError(f"{state_machine_arn} reads no manifest: is it a stepml state machine?")


def _plan_output(events: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The Plan Lambda's payload (keys, prefixes, job names), from the execution history."""
    state = ""
    for e in events:
        state = e.get("stateEnteredEventDetails", {}).get("name", state)
        details = e.get("taskSucceededEventDetails") or e.get("lambdaFunctionSucceededEventDetails")
        if state == "Plan" and details and details.get("output"):
            out = json.loads(details["output"])
            payload: dict[str, Any] = out.get("Payload", out)
            return payload
    return None


@dataclass
class StepStatus:
    name: str
    status: str
    duration_s: float | None
    key: str | None = None
    rows: int | None = None
    detail: str = ""
    error: str = ""


@dataclass
class CloudRun:
    execution_arn: str
    name: str
    status: str
    params: dict[str, Any]
    steps: list[StepStatus] = field(default_factory=list)


def status(sfn: Any, s3: Any, execution_arn: str, steps: Sequence[str]) -> CloudRun:
    """The run tree of an execution: per step cached/ran/failed/not run, duration, key, rows, error."""
    described = sfn.describe_execution(executionArn=execution_arn)
    events = history(sfn, execution_arn)
    plan = _plan_output(events) or {}
    bucket = artifact_bucket(sfn, str(described["stateMachineArn"]))
    out = CloudRun(execution_arn, str(described.get("name", "")), str(described["status"]), plan.get("params", {}))
    for report in step_reports(steps, events):
        out.steps.append(_step_status(s3, bucket, report, plan.get("steps", {}).get(report.name)))
    return out


def _step_status(s3: Any, bucket: str, report: StepReport, planned: Mapping[str, Any] | None) -> StepStatus:
    result = StepStatus(report.name, report.status, report.duration_s, error=report.error)
    if planned is None:
        return result
    result.key = str(planned["key"])
    if report.status in ("ran", "cached"):
        try:
            raw = s3.get_object(Bucket=bucket, Key=planned["manifest_key"])["Body"].read()
        except s3.exceptions.NoSuchKey:
            return result
        pipeline = str(planned["manifest_key"]).split("/", 1)[0]
        manifest = parse_manifest(
            raw, pipeline, report.name, result.key, where=f"s3://{bucket}/{planned['manifest_key']}"
        )
        if manifest is not None:
            result.rows, result.detail = manifest.get("rows"), str(manifest.get("detail") or "")
    return result


def resume(sfn: Any, execution_arn: str) -> tuple[str, str]:
    """Redrive a failed execution when Step Functions allows it, else start a new one with the same input (its
    finished steps are cache hits). Returns ``("redrive" | "restart", execution ARN)``."""
    described = sfn.describe_execution(executionArn=execution_arn)
    state = str(described["status"])
    if state == "RUNNING":
        raise CloudError(f"{execution_arn} is still running")
    if state in _TERMINAL_FAILED and described.get("redriveStatus") == "REDRIVABLE":
        sfn.redrive_execution(executionArn=execution_arn)
        return "redrive", execution_arn
    arn = start(sfn, str(described["stateMachineArn"]), json.loads(described.get("input") or "{}").get("params", {}))
    return "restart", arn


@dataclass(frozen=True)
class LogSource:
    """Where a step's logs are: CloudWatch Logs (``group``, ``stream_prefix``) and the attempt's ``logs/`` files."""

    step: str
    group: str | None
    stream_prefix: str | None
    attempt_prefix: str | None


def log_source(sfn: Any, execution_arn: str, step: str, *, ecs_log_group: str | None = None) -> LogSource:
    """The log source of ``step`` in an execution: the training job's streams (``/aws/sagemaker/TrainingJobs``,
    ``<job>-<attempt>/``: every attempt's), or the ECS tasks' streams (``ecs_log_group``, ``<step>/``), and the attempt's files."""
    events = history(sfn, execution_arn)
    plan = _plan_output(events)
    if plan is None or step not in plan.get("steps", {}):
        raise CloudError(f"step {step!r} is not in the plan of {execution_arn}")
    entry = plan["steps"][step]
    if entry["type"] == "train":
        return LogSource(step, "/aws/sagemaker/TrainingJobs", f"{entry['job_name']}-", entry["attempt"])
    if entry["type"] in ("score", "check") and ecs_log_group:
        return LogSource(step, ecs_log_group, f"{step}/", entry["attempt"])
    return LogSource(step, None, None, entry["attempt"])


def read_logs(source: LogSource, *, bucket: str, s3: Any, logs: Any | None = None) -> list[str]:
    """The lines of a step's logs: CloudWatch events (oldest first), then the attempt's ``logs/`` files."""
    lines: list[str] = []
    if logs is not None and source.group:
        try:
            pages = logs.get_paginator("filter_log_events").paginate(
                logGroupName=source.group, logStreamNamePrefix=source.stream_prefix
            )
            lines += [f"{e['logStreamName']}: {e['message']}" for page in pages for e in page.get("events", [])]
        except logs.exceptions.ResourceNotFoundException:
            pass
    if source.attempt_prefix:
        listing = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{source.attempt_prefix}/logs/")
        for key in sorted(o["Key"] for page in listing for o in page.get("Contents", [])):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
            lines += [f"{key.rsplit('/', 1)[-1]}: {line}" for line in body.splitlines()]
    return lines


def latest_execution(sfn: Any, state_machine_arn: str) -> str:
    got = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=1).get("executions", [])
    if not got:
        raise CloudError(f"{state_machine_arn} has no execution")
    return str(got[0]["executionArn"])
