"""Extract in the Lambda handlers: the UNLOAD statement per execution (plan), its files renamed (commit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.errors import StepInputError
from steps.extract.probe_cloud import lookup_resolver  # the data version of the sources, for the plan Lambda
from steps.extract.sqltokens import substitute, unload
from steps.extract.summary import detail, summary

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext, PlanContext


ATTEMPT = "\x00"  # where the states put the attempt's ``<redrives>-<retries>`` into the UNLOAD location


def plan_entry(ctx: PlanContext) -> dict[str, Any]:
    """The step's SELECT with this execution's parameter literals, wrapped in the engine's UNLOAD to
    ``<attempt>/unload/<redrives>-<retries>/``: the statement around the attempt's part, which the states fill in."""
    types = {name: rec["type"] for name, rec in ctx.config["plan_input"]["params"].items()}
    select = substitute(ctx.settings["sql"], types, ctx.plan.params)
    role = ctx.environment.get("REDSHIFT_ROLE_ARN") or None
    uri = f"{ctx.entry['uri']}/unload/{ATTEMPT}/"
    head, tail = unload(select, engine=ctx.settings["engine"], uri=uri, iam_role=role).rsplit(ATTEMPT, 1)
    return {"sql_head": head, "sql_tail": tail}


def finish(ctx: FinishContext) -> dict[str, Any]:
    """The successful attempt's UNLOAD files become ``data/part-NNNNN.parquet``; their rows are counted from the
    parquet footers (ranged GETs) and ``min_rows`` enforced."""
    unloaded = ctx.objects(f"{ctx.attempt}/unload")  # every attempt's files (a failed one leaves its own)
    written = f"{ctx.attempt}/unload/{ctx.task['unload']}/" if ctx.task.get("unload") else f"{ctx.attempt}/unload/"
    parts = [o for o in unloaded if int(o.get("Size", 0)) > 0 and str(o["Key"]).startswith(written)]
    rows = sum(ctx.parquet_rows(str(obj["Key"])) for obj in parts)  # the footers: Athena's statistics may never come
    for i, obj in enumerate(parts):
        ctx.s3.copy_object(
            Bucket=ctx.bucket,
            Key=f"{ctx.attempt}/data/part-{i:05d}.parquet",
            CopySource={"Bucket": ctx.bucket, "Key": obj["Key"]},
        )
    for obj in unloaded:
        ctx.s3.delete_object(Bucket=ctx.bucket, Key=obj["Key"])
    min_rows = int(ctx.settings.get("min_rows", 1))
    if rows < min_rows:
        raise StepInputError(ctx.name, f"the extract returned {rows} row(s); at least {min_rows} are required")
    return {"rows": rows, "summary": summary(len(parts)), "detail": detail(rows, len(parts))}


__all__ = ["finish", "lookup_resolver", "plan_entry"]
