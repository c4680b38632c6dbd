"""The score step's block in pipeline.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import MODEL_REF, StepSpec

ENTRY = "steps.score.entry:run"


class ScoreStep(StepSpec):
    type: Literal["score"]
    partitions: int = Field(4, ge=1, le=10_000)
    max_concurrency: int = Field(2, ge=1, le=1000)
    batch_rows: int = Field(65_536, ge=1)
    # without a model step in needs: a registered model, NAME@champion | NAME@challenger | NAME@<version>
    model: str | None = Field(None, pattern=MODEL_REF)

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        upstream = ctx.upstream_of("model")
        if upstream and self.model:
            return [StepIssue(f"scores with the model of {upstream[0]!r}; drop 'model' or that dependency", ("model",))]
        if not upstream and not self.model:
            return [StepIssue("needs a model: a gate or train step in 'needs', or 'model: NAME@champion'")]
        if upstream:
            return ctx.model_issues("a score step")
        return []  # a registered model: declared in another pipeline of the project, its columns in its files

    def by_alias(self, ctx: SpecContext) -> tuple[str, str] | None:
        """(model, alias) when the step scores with a registered model rather than an upstream step's."""
        if ctx.upstream_of("model") or not self.model:
            return None
        name, _, alias = self.model.partition("@")
        return name, alias or "champion"

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        found = ctx.model()
        return (
            {"partitions": self.partitions}
            | ({"id_columns": found[1].id_columns} if found is not None else {})
            | ({"model": self.model} if self.model else {})
        )

    def lookup(self, ctx: SpecContext) -> dict[str, Any] | None:
        ref = self.by_alias(ctx)
        return None if ref is None else {"model": ref[0], "alias": ref[1], "required": True}

    def entry_config(self) -> dict[str, Any]:
        return {"batch_rows": self.batch_rows}
