"""The serve step's block in pipeline.yaml: which experiment it serves and the table it scores."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import StepSpec

ENTRY = "steps.serve.entry:run"


def model_input(variant: str) -> str:
    """The name of a variant's model among the entry's inputs (a registered model the plan resolved)."""
    return f"variant_{variant}"


class ServeStep(StepSpec):
    type: Literal["serve"]
    experiment: str
    # the table the variants' models score (items per unit); default: the one upstream table no variant names
    input: str | None = None
    batch_rows: int = Field(65_536, ge=1)

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        exp = ctx.spec.experiments.get(self.experiment)
        if exp is None:
            known = sorted(ctx.spec.experiments) or "none declared"
            return [StepIssue(f"unknown experiment {self.experiment!r}; experiments: {known}", ("experiment",))]
        problems: list[StepIssue] = []
        for name, v in exp.variants.items():
            if v.step is not None and v.step not in self.needs:
                problems.append(StepIssue(f"variant {name!r} serves step {v.step!r}: add it to 'needs'", ("needs",)))
        if self.input is not None and self.input not in self.needs:
            problems.append(StepIssue(f"input {self.input!r} is not in 'needs'", ("input",)))
        wants_input = any(
            v.model is not None or (v.step is not None and self._produces_model(ctx, v.step))
            for v in exp.variants.values()
        )
        if wants_input and self.table_input(ctx) is None:
            problems.append(
                StepIssue("a variant serves a model: name the table it scores ('input', an upstream step)", ("input",))
            )
        return problems

    @staticmethod
    def _produces_model(ctx: SpecContext, step: str) -> bool:
        t = ctx.step_type(step)
        return t is not None and "model" in t.produces and "table" not in t.produces

    def table_input(self, ctx: SpecContext) -> str | None:
        if self.input is not None:
            return self.input
        exp = ctx.spec.experiments.get(self.experiment)
        named = set(exp.steps()) if exp is not None else set()
        tables = [d for d in ctx.upstream_of("table") if d not in named]
        return tables[0] if len(tables) == 1 else None

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        exp = ctx.spec.experiments[self.experiment]
        return {
            "settings": ctx.spec.experiment_settings(self.experiment),
            "experiment": exp.model_dump(
                mode="json",
                exclude={
                    "metrics",
                    "guardrails",
                    "alpha",
                    "srm_alpha",
                    "max_multiple_exposure",
                    "description",
                    "window",
                },
            ),
            "input": self.table_input(ctx),
        }

    def lookup(self, ctx: SpecContext) -> dict[str, Any] | None:
        exp = ctx.spec.experiments[self.experiment]
        lookups: dict[str, Any] = {
            "experiment": {"kind": "experiment", "settings": ctx.spec.experiment_settings(self.experiment)}
        }
        for name, v in exp.variants.items():
            ref = v.model_ref()
            if ref is not None:
                lookups[model_input(name)] = {"kind": "model", "model": ref[0], "alias": ref[1], "required": True}
        return {"kind": "all", "lookups": lookups}

    def entry_config(self, ctx: SpecContext) -> dict[str, Any]:
        exp = ctx.spec.experiments[self.experiment]
        variants: dict[str, dict[str, Any]] = {}
        for name, v in exp.variants.items():
            if v.model is not None:
                variants[name] = {"model": model_input(name)}
            elif v.step is not None and self._produces_model(ctx, v.step):
                variants[name] = {"model": v.step}
            else:
                variants[name] = {"table": v.step}
        return {
            "settings": ctx.spec.experiment_settings(self.experiment),
            "coverage": exp.coverage,
            "unit": exp.unit,
            "item": exp.item,
            "score": exp.score,
            "top_k": exp.top_k,
            "audience": exp.audience.model_dump(mode="json") if exp.audience else None,
            "fallback": exp.fallback.model_dump(mode="json") if exp.fallback else None,
            "interleaving": exp.interleaving,
            "variants": variants,
            "input": self.table_input(ctx),
            "batch_rows": self.batch_rows,
        }

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        exp = ctx.spec.experiments[self.experiment]
        return {
            "experiment": self.experiment,
            "settings": ctx.spec.experiment_settings(self.experiment),
            "coverage": exp.coverage,
        }
