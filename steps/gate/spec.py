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
    approval: Literal["auto", "manual"] = "auto"  # manual: a passing candidate awaits `stepml models approve`

    @field_validator("min_value", "min_improvement")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v!r}")
        return v

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        return ctx.model_issues("a gate step")

    def model_name(self, ctx: SpecContext) -> str:
        found = ctx.model()
        assert found is not None
        return found[0]

    def settings(self, ctx: SpecContext) -> dict[str, Any]:
        """The comparison's configuration (``steps.gate.core.GateConfig``)."""
        found = ctx.model()
        assert found is not None
        model = found[1]
        return {
            "metric": model.metric,
            "higher_is_better": model.higher_is_better,
            "min_value": self.min_value,
            "min_improvement": self.min_improvement,
            "compare_to_champion": self.compare_to_champion,
        }

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        settings = {k: v for k, v in self.settings(ctx).items() if k != "higher_is_better"}
        extra = {"approval": self.approval} if self.approval != "auto" else {}
        return settings | extra | ({"model": self.model_name(ctx)} if ctx.spec.models else {})

    def lookup(self, ctx: SpecContext) -> dict[str, Any] | None:
        """The champion the candidate is compared with (and kept when the candidate fails) is in the key - unless
        it is this very candidate (a re-run after the promotion is a cache hit)."""
        train = ctx.upstream_of("model")
        return {"model": self.model_name(ctx), "alias": "champion", "required": False, "unless_from": train[0]}

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        return {"gate": self.settings(ctx), "model": self.model_name(ctx), "approval": self.approval}
