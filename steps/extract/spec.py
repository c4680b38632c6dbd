"""The extract step's block in pipeline.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from stepml.spec.context import SpecContext, SpecFileError, StepIssue
from stepml.spec.models import StepSpec
from stepml.spec.pipeline import text_digest
from steps.extract.sqlrender import scan_placeholders


class ExtractStep(StepSpec):
    type: Literal["extract"]
    sql: str  # a file of Athena/Trino SQL, relative to the spec; ``:name`` placeholders are run parameters
    min_rows: int = Field(1, ge=0)
    rows_per_file: int = Field(500_000, ge=1)

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        try:
            text = ctx.read_text(self.sql)
        except SpecFileError as exc:
            return [StepIssue(f"cannot read the SQL file: {exc}", ("sql",))]
        declared = sorted(ctx.spec.params)
        return [
            StepIssue(f"{self.sql} uses :{ph}, which is not a declared parameter (declared: {declared})", ("sql",))
            for ph in scan_placeholders(text)
            if ph not in ctx.spec.params
        ]

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        return {"sql_path": self.sql, "rows_per_file": self.rows_per_file, "sql": text_digest(ctx.read_text(self.sql))}

    def key_params(self, ctx: SpecContext) -> set[str]:
        return set(self.params) | set(scan_placeholders(ctx.read_text(self.sql)))

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        from steps.extract.sqlrender import template

        engine = ctx.spec.warehouse.engine
        dialect = "trino" if engine == "athena" else "redshift"
        names = sorted(self.key_params(ctx))
        return {
            "engine": engine,
            "min_rows": self.min_rows,
            "sql": template(ctx.read_text(self.sql), names, dialect=dialect, step=ctx.name),
        }
