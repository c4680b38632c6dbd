"""Checks on a laptop: ``python -m stepml.entry`` on the features and predictions, against the serving model's
reference profile; then the run's metric record goes to the history the alarms read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.sdk import Input, LocalContext, StepResult, read_json
from steps.check.spec import ENTRY, CheckStep
from steps.check.summary import HISTORY, REPORT

if TYPE_CHECKING:
    from stepml.store.objects import Store


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, CheckStep)
    predictions = ctx.upstream_of("predictions")
    features = next((n for n in ctx.pipeline.upstream(ctx.name).get("table", []) if n != predictions), None)
    inputs: dict[str, Input] = {}
    if features is not None:
        inputs[features] = ctx.input(features)
    if predictions is not None:
        inputs[predictions] = serving_model_input(ctx, predictions) if features else ctx.input(predictions)
    result = ctx.run_entry(ctx.invocation(ENTRY, step.entry_config(), inputs))
    from monitoring.metrics import file_history

    file_history(ctx.store, ctx.pipeline.name, ctx.run_id, ctx.out_dir / HISTORY)
    return result


def serving_model_input(ctx: LocalContext, predictions: str) -> Input:
    """The predictions, with the model that scored them: its ``profile.json`` is the drift reference, its
    validation metric a metric."""
    from stepml.core.manifest import read_manifest

    scored = ctx.upstream[predictions]
    model_from = ctx.pipeline.upstream(predictions).get("model", [])
    manifest = None
    if model_from:
        manifest = read_manifest(ctx.store, ctx.pipeline.name, model_from[0], scored["parents"][model_from[0]])
    if manifest is None:
        return ctx.input(predictions)
    model = manifest["summary"]["model"]
    folder = ctx.model_dir(model["uri"], only=("profile.json", "reference_sample.parquet"))
    return ctx.input(predictions, model_dir=folder, summary={"value": model.get("value")})


def read(store: Store, manifest: dict[str, Any]) -> dict[str, Any]:
    return read_json(store, manifest, REPORT)
