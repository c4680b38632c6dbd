"""The notification Lambda: on an execution's status change, a gokart-style summary to the SNS topic.

An EventBridge rule sends ``Step Functions Execution Status Change`` events for the pipeline's state machine.
:func:`summarize` (pure) reads the execution history's state names - the compiler names every state
``"<step>: <phase>"`` - to tell, per step, whether it was cached, ran or failed, how long it took and the failing
step's error; the handler fetches the history, formats, and publishes. Example::

    ===== stepml run summary: job-matching =====
    execution 2026-05-01T03-00-00 FAILED after 14m 3s
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    message: str
    steps: list[StepReport] = field(default_factory=list)


def _ts(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    return dt.datetime.fromisoformat(str(value))


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m}m {s}s" if h else (f"{m}m {s}s" if m else f"{s}s")


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
                last_error = f"{details.get('error')}: {str(details.get('cause', ''))[:500]}"
        entered = event.get("stateEnteredEventDetails")
        if not entered:
            continue
        step, _, phase = str(entered.get("name", "")).partition(": ")
        report = reports.get(step)
        if report is None:
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


def summarize(
    pipeline: str, steps: Sequence[str], detail: Mapping[str, Any], history: Iterable[Mapping[str, Any]], region: str
) -> Summary:
    status = str(detail.get("status", "UNKNOWN"))
    arn = str(detail.get("executionArn", ""))
    start, stop = detail.get("startDate"), detail.get("stopDate")
    total = (_ts(stop) - _ts(start)).total_seconds() if start is not None and stop is not None else None
    reports = step_reports(steps, history)
    lines = [
        f"===== stepml run summary: {pipeline} =====",
        f"execution {detail.get('name', arn)} {status} after {_fmt(total)}",
    ]
    for label in ("cached", "ran", "failed", "not run"):
        group = [r for r in reports if r.status == label]
        if not group:
            continue
        shown = []
        for r in group:
            text = r.name if label in ("cached", "not run") else f"{r.name} ({_fmt(r.duration_s)})"
            shown.append(text + (f" - {r.error}" if r.error else ""))
        lines.append(f"* {len(group)} {label}: " + ", ".join(shown))
    failed = status != "SUCCEEDED" or any(r.status == "failed" for r in reports)
    lines.append(
        f"This run looks {':(' if failed else ':)'} because there were {'failed' if failed else 'no failed'} steps"
    )
    lines.append(
        f"console: https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
    )
    subject = f"stepml {pipeline}: {status}"[:100]
    return Summary(subject, "\n".join(lines), reports)


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    import boto3

    from stepml.cloud.handlers._config import load_config

    config = load_config()
    detail = event.get("detail") or {}
    sfn = boto3.client("stepfunctions")
    history: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=detail["executionArn"]):
        history.extend(page["events"])
    steps = [s["name"] for s in config["plan_input"]["steps"]]
    summary = summarize(
        config["plan_input"]["pipeline"], steps, detail, history, os.environ.get("AWS_REGION", "us-east-1")
    )
    boto3.client("sns").publish(TopicArn=os.environ["TOPIC_ARN"], Subject=summary.subject, Message=summary.message)
    return {
        "subject": summary.subject,
        "steps": {r.name: r.status for r in summary.steps},
        "message": json.dumps(summary.message),
    }
