"""The commit side of steps that run their entry as a process (ECS task or SageMaker Processing job).

Each process wrote its result to ``<attempt>/_results/`` (``stepml.entry``); :func:`finish_process` reads them -
one, or one per partition - and merges them with the type's ``merge`` (the function the local runner uses), so
the manifest records the same rows, summary and detail as a local run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stepml.cloud.handlers.context import FinishContext
from stepml.errors import StepExecutionError

Merge = Callable[[Sequence[dict[str, Any]]], dict[str, Any]]


def single(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The result of a step that ran as one process."""
    (result,) = results
    return result


def finish_process(ctx: FinishContext, merge: Merge = single) -> dict[str, Any]:
    results = ctx.entry_results()
    if not results:
        raise StepExecutionError(ctx.name, f"s3://{ctx.bucket}/{ctx.attempt}/_results/ is empty: no process finished")
    merged = merge(results)
    return {"rows": merged.get("rows"), "summary": merged.get("summary", {}), "detail": merged.get("detail", "")}
