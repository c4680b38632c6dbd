"""Scoring in the commit Lambda: the partitions' results merged as the local run merges them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.process import finish_process
from steps.score.summary import merge

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext


def finish(ctx: FinishContext) -> dict[str, Any]:
    return finish_process(ctx, merge)
