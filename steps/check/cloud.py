"""Checks in the commit Lambda: the entry's result recorded; once committed, the run's metric history filed under
``<pipeline>/metrics/`` (where ``stepml alarms`` and ``stepml report`` read it, as for a local run) and its
datapoints sent to CloudWatch, where the alarms compiled from the spec watch them. (The ECS task's EMF lines are
not turned into metrics: awslogs sends no EMF header.)"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process
from steps.check.summary import HISTORY

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext


def finish(ctx: FinishContext) -> dict[str, Any]:
    return finish_process(ctx)


def committed(ctx: FinishContext, manifest: Mapping[str, Any]) -> None:
    try:
        record = ctx.read_json(f"{ctx.attempt}/{HISTORY}")
    except ctx.s3.exceptions.NoSuchKey:  # a check that wrote no metric history
        return
    publish_history(ctx.s3, ctx.bucket, record, ctx.client("cloudwatch"))


def publish_history(s3: Any, bucket: str, record: Mapping[str, Any], cloudwatch: Any) -> str:
    from monitoring.metrics import history_key, put_metrics

    key = history_key(str(record["pipeline"]), str(record["run_id"]), float(record["timestamp"]))
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(record, indent=2).encode())
    if cloudwatch is not None:
        put_metrics(cloudwatch, record)
    return key
