"""The train step's block in pipeline.yaml, and the hyperparameters its entrypoint receives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import MODEL_NAME, ModelSpec, StepSpec


class TrainStep(StepSpec):
    type: Literal["train"]
    model: str | None = Field(None, pattern=MODEL_NAME)  # which model (default: the spec's only one)

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        return ctx.model_issues("a train step")

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        name, m = model_of(ctx)
        units = profile_units(ctx)
        model = m.model_dump(mode="json") | ({"name": name} if ctx.spec.models else {})
        return {"model": model} | ({"profile_units": units} if units else {})

    def key_params(self, ctx: SpecContext) -> set[str]:
        return set(self.params) | set(model_of(ctx)[1].param_refs().values())

    def code_modules(self, ctx: SpecContext) -> list[str]:
        """The model's factory or trainer is the user's code: its source enters the key."""
        ref = model_of(ctx)[1].code_ref
        return [*self.sources, *([ref.split(":", 1)[0]] if ref else [])]

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        """What the plan Lambda needs to fill run parameters into the hyperparameters."""
        return {"hyperparameters": self.hyperparameters(ctx, None), "param_refs": model_of(ctx)[1].param_refs()}

    def hyperparameters(self, ctx: SpecContext, params: Mapping[str, Any] | None) -> dict[str, str]:
        """SageMaker hyperparameters (every value a string), as the training entrypoint expects; ``params``
        (canonical JSON values) fill hyperparameters fed by run parameters (None: leave them to the plan)."""
        name, m = model_of(ctx)
        hp = m.hyperparameters_for(params) if params is not None else m.hyperparameters
        return {
            "step": ctx.name,
            "model": name,
            "task": m.task,
            "target": m.target,
            "features": json.dumps(m.features),
            "categorical": json.dumps(m.categorical),
            "id_columns": json.dumps(m.id_columns),
            "metric": m.metric,
            "validation_fraction": str(m.validation_fraction),
            "seed": str(m.seed),
            "model_params": json.dumps(hp, sort_keys=True),
            "threads": str(self.resources.threads if self.resources.cpu else 0),
        } | (
            ({"text": json.dumps(m.text)} if m.text else {})
            | ({"factory": m.factory} if m.factory else {})
            | ({"trainer": m.trainer} if m.trainer else {})
            | ({"profile_units": json.dumps(units, sort_keys=True)} if (units := profile_units(ctx)) else {})
        )


def profile_units(ctx: SpecContext) -> dict[str, list[str]]:
    """feature -> unit column(s), as the spec's check steps name them: the reference profile counts those
    features once per unit (``monitoring``'s entity-aware mode)."""
    out: dict[str, list[str]] = {}
    mine = ctx.model_ref()
    for name, step in ctx.steps.items():
        units = getattr(step, "profile_units", None)
        if callable(units) and mine is not None and (ctx.model_ref(name) or ("",))[0] == mine[0]:
            out |= units()
    return dict(sorted(out.items()))


def model_of(ctx: SpecContext) -> tuple[str, ModelSpec]:
    found = ctx.model()
    if found is None:
        raise ValueError(f"step {ctx.name!r} names no known model")
    return found
