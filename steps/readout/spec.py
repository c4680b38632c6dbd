"""The readout step's block in pipeline.yaml: the experiment it reads out; its upstream steps are the exposure /
outcome table (an extract: one row per unit and variant) and, optionally, the experiment's serve step."""

from __future__ import annotations

from typing import Any, Literal

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import StepSpec

ENTRY = "steps.readout.entry:run"


class ReadoutStep(StepSpec):
    type: Literal["readout"]
    experiment: str
    variant_column: str = "variant"  # the outcome table's variant column (interleaving: the team credited)

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        exp = ctx.spec.experiments.get(self.experiment)
        if exp is None:
            known = sorted(ctx.spec.experiments) or "none declared"
            return [StepIssue(f"unknown experiment {self.experiment!r}; experiments: {known}", ("experiment",))]
        problems: list[StepIssue] = []
        if not exp.metrics and exp.kind != "shadow":
            problems.append(
                StepIssue(f"experiment {self.experiment!r} declares no metrics to read out", ("experiment",))
            )
        if exp.kind == "shadow" and not ctx.upstream_of("serving"):
            problems.append(StepIssue("a shadow read-out compares the served lists: add the serve step to 'needs'"))
        for name in ctx.upstream_of("serving"):
            other = getattr(ctx.steps[name], "experiment", None)
            if other != self.experiment:
                problems.append(StepIssue(f"{name!r} serves experiment {other!r}, not {self.experiment!r}", ("needs",)))
        return problems

    def config(self, ctx: SpecContext) -> dict[str, Any]:
        exp = ctx.spec.experiments[self.experiment]
        return {
            "settings": ctx.spec.experiment_settings(self.experiment),
            "unit": exp.unit,
            "item": exp.item,
            "top_k": exp.top_k,
            "variant_column": self.variant_column,
            "metrics": [m.model_dump(mode="json") for m in exp.metrics],
            "guardrails": [g.model_dump(mode="json") for g in exp.guardrails],
            "alpha": exp.alpha,
            "srm_alpha": exp.srm_alpha,
            "max_multiple_exposure": exp.max_multiple_exposure,
            "window": exp.window.model_dump(mode="json") if exp.window else None,
        }

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        return self.config(ctx)

    def entry_config(self, ctx: SpecContext) -> dict[str, Any]:
        return self.config(ctx)


Kind = Literal["ab", "interleave", "shadow"]
