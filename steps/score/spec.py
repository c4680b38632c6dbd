"""The score step's block in pipeline.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import StepSpec

ENTRY = "steps.score.entry:run"


class ScoreStep(StepSpec):
    type: Literal["score"]
    partitions: int = Field(4, ge=1, le=10_000)
    max_concurrency: int = Field(2, ge=1, le=1000)
    batch_rows: int = Field(65_536, ge=1)

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        return [] if ctx.spec.model is not None else [StepIssue("a score step needs the spec's 'model' block")]

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        assert ctx.spec.model is not None
        return {"partitions": self.partitions, "id_columns": ctx.spec.model.id_columns}

    def entry_config(self) -> dict[str, Any]:
        return {"batch_rows": self.batch_rows}
