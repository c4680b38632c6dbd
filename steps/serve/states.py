"""Serving in AWS: one ECS task running the serve entry; registered models come from the plan's resolution (their
digests are in the key), an upstream gate/train step's model from its result."""

from __future__ import annotations

from typing import Any

from stepml.sdk import StepStates
from steps.serve.spec import ENTRY, ServeStep


def build(b: StepStates) -> str:
    step = b.spec
    assert isinstance(step, ServeStep)
    config = step.entry_config(b.pipeline.context(b.name))
    b.process(ENTRY, config, threads=step.resources.threads)
    inputs: dict[str, dict[str, str]] = {}
    extra: dict[str, dict[str, Any]] = {}
    if config.get("input"):
        inputs[config["input"]] = {}
    for source in config["variants"].values():
        if "table" in source:
            inputs[source["table"]] = {}
        elif source["model"] in step.needs:
            inputs[source["model"]] = {
                "model_uri": b.result(source["model"], "summary.model.uri"),
                "version": b.result(source["model"], "summary.model.version"),
            }
        else:
            part = f"resolved.parts.{source['model']}"
            extra[source["model"]] = {"model_uri.$": b.plan(f"{part}.uri"), "version.$": b.plan(f"{part}.version")}
    first = b.inputs_state(inputs, next_=b.state("run task"), extra=extra)
    b.ecs_task("run task", next_=b.commit)
    return first
