"""The check step's block in pipeline.yaml; its settings models live in ``monitoring.config``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from monitoring.config import ColumnCheck, DriftSettings, ExpectationSettings, ReportSettings
from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import StepSpec

ENTRY = "steps.check.entry:run"


class CheckStep(StepSpec):
    type: Literal["check"]
    min_rows: int = Field(1, ge=0)
    max_null_fraction: float = Field(0.1, ge=0, le=1)
    max_nonfinite_fraction: float = Field(0.0, ge=0, le=1)  # +-Inf among a column's non-null values
    columns: dict[str, ColumnCheck] = {}  # per-column overrides (null fraction, drift, ranges)
    drift: DriftSettings = DriftSettings()
    expectations: ExpectationSettings = ExpectationSettings()
    report: ReportSettings = ReportSettings()
    fail_run: bool = False

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        found = ctx.model()
        model = found[1] if found is not None else None
        known = (set(model.features) | set(model.id_columns) if model else set()) | {"prediction", "score"}
        return [
            StepIssue("not a feature, id column or prediction column", ("columns", col))
            for col in self.columns
            if model is not None and col not in known
        ]

    def check_config(self) -> dict[str, Any]:
        """What the check entry receives (``monitoring.config.CheckConfig``)."""
        return {
            "min_rows": self.min_rows,
            "max_null_fraction": self.max_null_fraction,
            "max_nonfinite_fraction": self.max_nonfinite_fraction,
            "columns": {c: v.model_dump(mode="json", exclude_none=True) for c, v in sorted(self.columns.items())},
            "drift": self.drift.model_dump(mode="json"),
            "expectations": self.expectations.model_dump(mode="json"),
            "report": self.report.model_dump(mode="json"),
            "fail_run": self.fail_run,
        }

    def profile_units(self) -> dict[str, list[str]]:
        """feature -> unit column(s) this check counts per unit (the train step profiles them the same way)."""
        from monitoring.config import CheckConfig

        units: dict[str, list[str]] = CheckConfig.model_validate(self.check_config()).profile_units()
        return units

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        return {"check": self.check_config()}

    def entry_config(self) -> dict[str, Any]:
        return {"check": self.check_config()}
