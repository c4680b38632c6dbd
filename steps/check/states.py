"""Checks in AWS: one ECS task running the check entry, given the serving model of the predictions it checks."""

from __future__ import annotations

from stepml.sdk import StepStates
from steps.check.spec import ENTRY, CheckStep


def build(b: StepStates) -> str:
    step = b.spec
    assert isinstance(step, CheckStep)
    upstream = b.pipeline.upstream(b.name)
    predictions = next(iter(upstream.get("predictions", [])), None)
    features = next((n for n in upstream.get("table", []) if n != predictions), None)
    inputs: dict[str, dict[str, str]] = {}
    if features is not None:
        inputs[features] = {}
    if predictions is not None:
        inputs[predictions] = {}
        model_from = b.pipeline.upstream(predictions).get("model", [])
        if features is not None and model_from:
            model = f"$.results.{model_from[0]}.summary.model"
            inputs[predictions] = {"model_uri": f"{model}.uri", "value": f"{model}.value"}
    b.process(ENTRY, step.entry_config())
    first = b.inputs_state(inputs, next_=b.state("run task"))
    b.ecs_task("run task", next_=b.commit)
    return first
