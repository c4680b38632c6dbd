"""Scoring on a laptop: one ``python -m stepml.entry`` process per partition, ``max_concurrency`` at a time."""

from __future__ import annotations

from pathlib import Path

from stepml.errors import StepInputError
from stepml.sdk import LocalContext, StepResult
from steps.score.spec import ENTRY, ScoreStep
from steps.score.summary import merge


def model_input(ctx: LocalContext) -> tuple[Path, object]:
    """The local folder and version of the model the step scores with: what its model upstream (a gate's
    choice, a train step's model) records as ``summary.model``."""
    name = ctx.upstream_of("model")
    assert name is not None
    model = ctx.upstream[name]["summary"]["model"]
    folder = ctx.model_dir(model["uri"])
    if not (folder / "model.joblib").exists():
        raise StepInputError(ctx.name, f"the model at {model['uri']} has no model.joblib")
    return folder, model["version"]


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, ScoreStep)
    source, model_from = ctx.upstream_of("table"), ctx.upstream_of("model")
    assert source is not None and model_from is not None
    folder, version = model_input(ctx)
    model = ctx.input(model_from, model_dir=folder, with_tables=False, summary={"version": version})
    results = ctx.run_partitions(
        ENTRY,
        step.entry_config(),
        partitioned=source,
        partitions=step.partitions,
        max_concurrency=step.max_concurrency,
        inputs={model_from: model},
        threads=step.resources.threads,
    )
    return StepResult(**merge(results))
