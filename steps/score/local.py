"""Scoring on a laptop: the score entry (``stepml.entry``) once per partition, in ``max_concurrency`` worker
processes that each take the next partition when done with one (``stepml.local.warm``), loading the model once."""

from __future__ import annotations

from stepml.entry import Input
from stepml.errors import StepInputError
from stepml.sdk import LocalContext, StepResult
from steps.score.spec import ENTRY, ScoreStep
from steps.score.summary import merge


def model_input(ctx: LocalContext) -> tuple[str, Input]:
    """The model the step scores with, as its entry's input: what its model upstream (a gate's choice, a train
    step's model) records as ``summary.model``, or the registered version its ``model: NAME@alias`` resolved to
    when the run was planned (the version whose digest is in the step's key)."""
    name = ctx.upstream_of("model")
    if name is not None:
        model = ctx.upstream[name]["summary"]["model"]
    elif ctx.step.resolved is not None:
        name, model = "model", ctx.step.resolved
    else:
        raise StepInputError(ctx.name, "no model: neither a model step upstream nor a resolved model@alias")
    folder = ctx.model_dir(model["uri"])
    if not any((folder / f).exists() for f in ("stepml_model.json", "model.joblib")):
        raise StepInputError(ctx.name, f"the model at {model['uri']} has no stepml_model.json")
    if name == "model":
        return name, Input(kinds=("model",), model_dir=str(folder), summary={"version": model["version"]})
    return name, ctx.input(name, model_dir=folder, with_tables=False, summary={"version": model["version"]})


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, ScoreStep)
    source = ctx.upstream_of("table")
    assert source is not None
    model_from, model = model_input(ctx)
    results = ctx.run_partitions(
        ENTRY,
        step.entry_config(),
        partitioned=source,
        partitions=step.partitions,
        max_concurrency=step.max_concurrency,
        inputs={model_from: model},
        threads=step.resources.threads,
        reuse=True,  # a worker scores its next partition with the model it loaded (steps.score.entry._loaded)
    )
    return StepResult(**merge(results))
