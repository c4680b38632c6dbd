"""The extract step's block in pipeline.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stepml.spec.context import SpecContext, SpecFileError, StepIssue
from stepml.spec.models import StepSpec
from stepml.spec.pipeline import text_digest
from steps.extract.sqlrender import scan_placeholders


class DataVersion(BaseModel):
    """How a new load of the extract's sources is told apart (``steps.extract.probe``): the tables probed (default:
    every table the SQL reads), a probe query of the spec's own (a file, relative to the spec), and ``max_age``
    (e.g. ``24h``, ``7d``): recompute at least that often, for sources no probe sees change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    tables: list[str] | None = None
    probe: str | None = None
    max_age: str | None = Field(None, pattern=r"^[1-9][0-9]*[mhd]$")

    @property
    def max_age_s(self) -> int | None:
        if self.max_age is None:
            return None
        return int(self.max_age[:-1]) * {"m": 60, "h": 3600, "d": 86400}[self.max_age[-1]]


class ExtractStep(StepSpec):
    type: Literal["extract"]
    sql: str  # a file of Athena/Trino SQL, relative to the spec; ``:name`` placeholders are run parameters
    min_rows: int = Field(1, ge=0)
    rows_per_file: int = Field(500_000, ge=1)
    data_version: DataVersion = DataVersion()

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

    def source_tables(self, ctx: SpecContext) -> list[str]:
        """The tables the SQL reads (its CTEs aside), as written."""
        import re

        import sqlglot
        from sqlglot import exp

        text = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", "NULL", ctx.read_text(self.sql))
        tree = sqlglot.parse_one(text, read="trino")
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        names = {".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table) if t.name not in ctes}
        return sorted(names)

    def lookup(self, ctx: SpecContext) -> dict[str, Any] | None:
        """The data version of the sources (``steps.extract.probe`` locally, ``steps.extract.probe_cloud`` in AWS)."""
        dv = self.data_version
        if not dv.enabled:
            return None
        return {
            "kind": "data",
            "tables": dv.tables if dv.tables is not None else self.source_tables(ctx),
            "probe": ctx.read_text(dv.probe) if dv.probe else None,
            "max_age_s": dv.max_age_s,
        }

    def key_params(self, ctx: SpecContext) -> set[str]:
        return set(self.params) | set(scan_placeholders(ctx.read_text(self.sql)))

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        from steps.extract.sqlrender import template

        engine = ctx.spec.warehouse.engine
        dialect = "trino" if engine == "athena" else "redshift"
        names = sorted(self.key_params(ctx))
        athena = ctx.spec.warehouse.athena
        return {
            "engine": engine,
            "athena": athena.model_dump(mode="json") if athena is not None else {},
            "min_rows": self.min_rows,
            "sql": template(ctx.read_text(self.sql), names, dialect=dialect, step=ctx.name),
        }
