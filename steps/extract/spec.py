"""The extract step's block in pipeline.yaml."""

from __future__ import annotations

import re
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
        """The tables the SQL reads - the names after FROM and JOIN, its CTEs aside - found without parsing (a
        cached run imports no SQL parser); ``data_version.tables`` overrides them."""
        return source_tables(ctx.read_text(self.sql))

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


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.S)
_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'
_SOURCE = re.compile(rf"\b(?:FROM|JOIN)\s+({_NAME}(?:\s*\.\s*{_NAME})*)", re.I)
_CTE = re.compile(rf"(?:\bWITH\s+(?:RECURSIVE\s+)?|,\s*)({_NAME})\s+AS\s*\(", re.I)
# more tables of a FROM list: ", name" after a table and its optional alias
_MORE = re.compile(rf"\s*(?:(?:AS\s+)?(?!(?:WHERE|JOIN|ON|GROUP|ORDER|LIMIT|UNION|LEFT|RIGHT|INNER|FULL|CROSS)\b){_NAME})?"
                   rf"\s*,\s*({_NAME}(?:\s*\.\s*{_NAME})*)", re.I)  # fmt: skip


def source_tables(sql: str) -> list[str]:
    """Table names after FROM/JOIN (comments and string literals removed; CTE names and table functions aside)."""
    text = _COMMENTS.sub(" ", sql)
    ctes = {m.group(1).strip('"').lower() for m in _CTE.finditer(text)}
    found = set()
    for m in _SOURCE.finditer(text):
        names, end = [m.group(1)], m.end()
        if m.group(0).upper().startswith("FROM"):
            while (more := _MORE.match(text, end)) is not None:
                names.append(more.group(1))
                end = more.end()
        for i, raw in enumerate(names):
            name = ".".join(part.strip().strip('"') for part in raw.split("."))
            after = text[m.end(1) :].lstrip() if i == 0 else ""
            if name.lower() in ctes or after.startswith("("):  # a CTE, or a table function like UNNEST(...)
                continue
            found.add(name)
    return sorted(found)
