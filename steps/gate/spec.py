"""The gate step's block in pipeline.yaml."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import field_validator

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import StepSpec


class GateStep(StepSpec):
    type: Literal["gate"]
    min_value: float | None = None  # absolute threshold on model.metric (a max for lower-is-better metrics)
    min_improvement: float = 0.0  # required improvement over the champion's metric
    compare_to_champion: bool = True

    @field_validator("min_value", "min_improvement")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v!r}")
        return v

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        return [] if ctx.spec.model is not None else [StepIssue("a gate step needs the spec's 'model' block")]

    def settings(self, ctx: SpecContext) -> dict[str, Any]:
        """The comparison's configuration (``steps.gate.core.GateConfig``)."""
        assert ctx.spec.model is not None
        return {
            "metric": ctx.spec.model.metric,
            "higher_is_better": ctx.spec.model.higher_is_better,
            "min_value": self.min_value,
            "min_improvement": self.min_improvement,
            "compare_to_champion": self.compare_to_champion,
        }

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        return {k: v for k, v in self.settings(ctx).items() if k != "higher_is_better"}

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        return {"gate": self.settings(ctx)}
