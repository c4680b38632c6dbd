"""A read-out in the commit Lambda: the entry's result recorded; once committed, its metric history filed and
sent to CloudWatch (where the SRM alarm watches it), exactly as a check's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext

HISTORY = "history.json"


def finish(ctx: FinishContext) -> dict[str, Any]:
    return finish_process(ctx)


def committed(ctx: FinishContext, manifest: Mapping[str, Any]) -> None:
    from steps.check.cloud import publish_history

    try:
        record = ctx.read_json(f"{ctx.attempt}/{HISTORY}")
    except ctx.s3.exceptions.NoSuchKey:
        return
    publish_history(ctx.s3, ctx.bucket, record, ctx.client("cloudwatch"))
