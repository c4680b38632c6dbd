"""A python step in the Lambda handlers: a Processing job's name (plan); the processes' results merged (commit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process
from steps.python.summary import merge

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext, PlanContext


def plan_entry(ctx: PlanContext) -> dict[str, Any]:
    """A SageMaker Processing job's name, unique per attempt (at most 63 characters of [a-zA-Z0-9-])."""
    if not ctx.settings.get("processing"):
        return {}
    import re

    raw = (
        f"{ctx.plan.pipeline[:24]}-{ctx.step.name[:16]}-{ctx.step.key[:8]}-{ctx.execution_suffix}{ctx.started_at[-6:]}"
    )
    return {"job_name": re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9-]", "-", raw)).strip("-")[:63]}


def finish(ctx: FinishContext) -> dict[str, Any]:
    return finish_process(ctx, merge)
