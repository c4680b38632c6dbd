"""Extract in the Lambda handlers: the UNLOAD statement per execution (plan), its files renamed (commit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.errors import StepInputError
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
    """The UNLOAD's files become ``data/part-NNNNN.parquet``; ``min_rows`` is enforced when the engine says how
    many rows it wrote."""
    unloaded = ctx.objects(f"{ctx.attempt}/unload")  # every attempt's files (a failed one leaves its own)
    written = f"{ctx.attempt}/unload/{ctx.task['unload']}/" if ctx.task.get("unload") else f"{ctx.attempt}/unload/"
    parts = [o for o in unloaded if int(o.get("Size", 0)) > 0 and str(o["Key"]).startswith(written)]
    for i, obj in enumerate(parts):
        ctx.s3.copy_object(
            Bucket=ctx.bucket,
            Key=f"{ctx.attempt}/data/part-{i:05d}.parquet",
            CopySource={"Bucket": ctx.bucket, "Key": obj["Key"]},
        )
    for obj in unloaded:
        ctx.s3.delete_object(Bucket=ctx.bucket, Key=obj["Key"])
    rows = query_rows(ctx, str(ctx.task.get("query_id", "")))
    min_rows = int(ctx.settings.get("min_rows", 1))
    if not parts or (rows is not None and rows < min_rows):
        raise StepInputError(ctx.name, f"the extract returned {rows or 0} row(s); at least {min_rows} are required")
    return {"rows": rows, "summary": summary(len(parts)), "detail": detail(rows, len(parts))}


def query_rows(ctx: FinishContext, query_id: str) -> int | None:
    if not query_id:
        return None
    try:
        if ctx.settings.get("engine", "athena") == "athena":
            stats = ctx.client("athena").get_query_runtime_statistics(QueryExecutionId=query_id)
            return int(stats["QueryRuntimeStatistics"]["Rows"]["OutputRows"])
        rows = int(ctx.client("redshift-data").describe_statement(Id=query_id).get("ResultRows", -1))
        return rows if rows >= 0 else None
    except Exception:  # statistics are best effort; the files are the output
        return None
