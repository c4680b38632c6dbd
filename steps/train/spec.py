"""The train step's block in pipeline.yaml, and the hyperparameters its entrypoint receives."""

from __future__ import annotations

import json
from typing import Any, Literal

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import ModelSpec, StepSpec


class TrainStep(StepSpec):
    type: Literal["train"]

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        return [] if ctx.spec.model is not None else [StepIssue("a train step needs the spec's 'model' block")]

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        units = profile_units(ctx)
        return {"model": model_of(ctx).model_dump(mode="json")} | ({"profile_units": units} if units else {})

    def hyperparameters(self, ctx: SpecContext) -> dict[str, str]:
        """SageMaker hyperparameters (every value a string), as the training entrypoint expects."""
        m = model_of(ctx)
        return {
            "step": ctx.name,
            "task": m.task,
            "target": m.target,
            "features": json.dumps(m.features),
            "categorical": json.dumps(m.categorical),
            "id_columns": json.dumps(m.id_columns),
            "metric": m.metric,
            "validation_fraction": str(m.validation_fraction),
            "seed": str(m.seed),
            "model_params": json.dumps(m.hyperparameters, sort_keys=True),
            "threads": str(self.resources.threads if self.resources.cpu else 0),
        } | ({"profile_units": json.dumps(units, sort_keys=True)} if (units := profile_units(ctx)) else {})


def profile_units(ctx: SpecContext) -> dict[str, list[str]]:
    """feature -> unit column(s), as the spec's check steps name them: the reference profile counts those
    features once per unit (``monitoring``'s entity-aware mode)."""
    out: dict[str, list[str]] = {}
    for step in ctx.steps.values():
        units = getattr(step, "profile_units", None)
        if callable(units):
            out |= units()
    return dict(sorted(out.items()))


def model_of(ctx: SpecContext) -> ModelSpec:
    if ctx.spec.model is None:
        raise ValueError(f"step {ctx.name!r} needs the spec's 'model' block")
    return ctx.spec.model
