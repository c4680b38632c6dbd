"""Train in the Lambda handlers: the training job's name (plan), its metrics read from ``model.tar.gz`` (commit)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import TYPE_CHECKING, Any

from stepml.errors import StepExecutionError
from steps.train.summary import detail, rows, summary

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext, PlanContext


def plan_entry(ctx: PlanContext) -> dict[str, Any]:
    """The training job's name in this execution (its states add the attempt's counters)."""
    return {"job_name": ctx.job_name()}


def finish(ctx: FinishContext) -> dict[str, Any]:
    model_uri = str(ctx.task["model_uri"])
    key = model_uri.removeprefix(f"s3://{ctx.bucket}/")
    metrics: dict[str, Any] | None = None
    body = ctx.s3.get_object(Bucket=ctx.bucket, Key=key)["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.rsplit("/", 1)[-1] == "metrics.json" and (f := tar.extractfile(member)) is not None:
                metrics = json.loads(f.read())
    if metrics is None:
        raise StepExecutionError(ctx.name, f"{model_uri} has no metrics.json; the training container did not finish")
    return {"rows": rows(metrics), "summary": summary(metrics, model_uri, ctx.step.key), "detail": detail(metrics)}
