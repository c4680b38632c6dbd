"""Train in the Lambda handlers: the training job's name (plan), its metrics read from ``model.tar.gz`` (commit)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import TYPE_CHECKING, Any

from stepml.core.layout import manifest_key
from stepml.errors import StepExecutionError
from steps.train.hyper import fill_params
from steps.train.summary import detail, rows, summary

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext, PlanContext


def plan_entry(ctx: PlanContext) -> dict[str, Any]:
    """The training job's name in this execution (its states add the attempt's counters), the hyperparameters
    with this execution's run parameters filled in, and the manifest of the table it trains on: a channel of its
    own, which the container checks the training channel's files against (``stepml.cloud.pinned.verify_channel``:
    SageMaker's download cannot be pinned to the ETags the manifest records)."""
    hyper = fill_params(ctx.settings["hyperparameters"], ctx.settings["param_refs"], ctx.plan.params)
    source = ctx.plan.step(ctx.settings["upstream"]["table"][0])
    manifest = manifest_key(ctx.plan.pipeline, source.name, source.key)
    return {"job_name": ctx.job_name(), "hyperparameters": hyper, "input_manifest": f"s3://{ctx.bucket}/{manifest}"}


def finish(ctx: FinishContext) -> dict[str, Any]:
    model_uri = str(ctx.task["model_uri"])
    key = model_uri.removeprefix(f"s3://{ctx.bucket}/")
    found: dict[str, Any] = {}
    body = ctx.s3.get_object(Bucket=ctx.bucket, Key=key)["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if name in ("metrics.json", "stepml_model.json") and (f := tar.extractfile(member)) is not None:
                found[name] = json.loads(f.read())
    metrics = found.get("metrics.json")
    if metrics is None:
        raise StepExecutionError(ctx.name, f"{model_uri} has no metrics.json; the training container did not finish")
    out = summary(metrics, model_uri, ctx.step.key, found.get("stepml_model.json"))
    return {"rows": rows(metrics), "summary": out, "detail": detail(metrics)}
