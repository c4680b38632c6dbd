"""A python step in the Lambda handlers: a Processing job's name (plan); the processes' results merged (commit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process
from steps.python.summary import merge

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext, PlanContext


def plan_entry(ctx: PlanContext) -> dict[str, Any]:
    """A SageMaker Processing job's name in this execution (its states add the attempt's counters)."""
    if not ctx.settings.get("processing"):
        return {}
    return {"job_name": ctx.job_name()}


def finish(ctx: FinishContext) -> dict[str, Any]:
    return finish_process(ctx, merge)
