"""Serving in the Lambda handlers (standard library + boto3): the plan checks a running experiment's first record
(``experiment`` lookups); the commit writes it when the experiment first serves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process
from stepml.core.plan import canonical_json, digest
from stepml.experiments import record as records

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext


def _read(s3: Any, bucket: str, name: str) -> dict[str, Any] | None:
    key = records.record_key(name)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return records.parse(body, f"s3://{bucket}/{key}")


def lookup_resolver(clients: Any, config: Mapping[str, Any], environment: Mapping[str, str], started_at: str) -> Any:
    """The plan Lambda's ``experiment`` lookups: the spec's settings against the first record in the bucket."""
    bucket = environment["ARTIFACT_BUCKET"]

    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        settings = dict(lookup["settings"])
        name = str(settings["experiment"])
        records.check(settings, _read(clients("s3"), bucket, name), f"s3://{bucket}/{records.record_key(name)}")
        return {"digest": digest(canonical_json(settings)), "experiment": name}

    return resolve


def finish(ctx: FinishContext) -> dict[str, Any]:
    """The processes' result; the experiment's first record written if this is its first serve (exclusively:
    ``If-None-Match: *``), else checked - before the manifest, so a disagreeing serve commits nothing."""
    out = finish_process(ctx)
    settings = ctx.settings["settings"]
    name = str(settings["experiment"])
    key = records.record_key(name)
    record = records.new_record(
        settings, run_id=ctx.run_id, started_at=_now(), coverage=float(ctx.settings["coverage"])
    )
    try:
        ctx.s3.put_object(Bucket=ctx.bucket, Key=key, Body=records.encode(record), IfNoneMatch="*")
    except ctx.s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise
        records.check(settings, _read(ctx.s3, ctx.bucket, name), f"s3://{ctx.bucket}/{key}")
    return out


def committed(ctx: FinishContext, manifest: Mapping[str, Any]) -> None:
    """Once committed: the serve's entry in the experiment's log (where its assignments are, and when)."""
    name = str(ctx.settings["settings"]["experiment"])
    served = records.served_entry(
        name,
        pipeline=str(manifest["pipeline"]),
        step=ctx.name,
        key=ctx.step.key,
        run_id=ctx.run_id,
        at=_now(),
        assignments=f"s3://{ctx.bucket}/{ctx.attempt}/tables/assignments",
    )
    ctx.s3.put_object(
        Bucket=ctx.bucket, Key=records.served_key(name, ctx.run_id, ctx.step.key), Body=records.encode(served)
    )
    # the serving table published where the experiment's Athena table reads it (one partition per day)
    day = _day(ctx.run_id)
    target = records.published_key(name, day, ctx.run_id, ctx.step.key)
    source = {"Bucket": ctx.bucket, "Key": f"{ctx.attempt}/{records.PUBLISHED}"}
    ctx.s3.copy_object(Bucket=ctx.bucket, Key=target, CopySource=source)
    latest = records.latest_entry(
        name, run_id=ctx.run_id, key=ctx.step.key, served_date=day, published=f"s3://{ctx.bucket}/{target}"
    )
    ctx.s3.put_object(Bucket=ctx.bucket, Key=records.latest_key(name), Body=records.encode(latest))


def _day(run_id: str) -> str:
    """The UTC day a run started, from its id (``20260501T030000-...``)."""
    from datetime import datetime

    try:
        return datetime.strptime(run_id[:8], "%Y%m%d").date().isoformat()
    except ValueError:
        return _now()[:10]


def _now() -> str:
    from datetime import datetime

    return datetime.now(tz=UTC).isoformat(timespec="seconds")
