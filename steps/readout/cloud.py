"""A read-out in the commit Lambda: the entry's result recorded; once committed, its metric history filed and
sent to CloudWatch (where the SRM alarm watches it), exactly as a check's (``steps.check.cloud.committed``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process
from steps.check.cloud import committed  # the same history.json, filed and published the same way

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext


def finish(ctx: FinishContext) -> dict[str, Any]:
    return finish_process(ctx)


__all__ = ["committed", "finish"]
