"""Scoring in AWS: a Distributed Map of ECS tasks, one per partition of the table input."""

from __future__ import annotations

from stepml.sdk import StepStates
from steps.score.spec import ENTRY, ScoreStep


def build(b: StepStates) -> str:
    step = b.spec
    assert isinstance(step, ScoreStep)
    source = b.upstream_of("table")
    b.process(ENTRY, step.entry_config(), threads=step.resources.threads)
    if step.by_alias(b.pipeline.context(b.name)) is None:  # an upstream step's model
        model_from = b.upstream_of("model")
        model = {
            "model_uri": b.result(model_from, "summary.model.uri"),
            "version": b.result(model_from, "summary.model.version"),
        }
        first = b.inputs_state({source: {}, model_from: model}, next_=b.state("partition"))
    else:  # the registered version the plan resolved (its digest is in the key)
        resolved = {"model_uri.$": b.plan("resolved.uri"), "version.$": b.plan("resolved.version")}
        first = b.inputs_state({source: {}}, next_=b.state("partition"), extra={"model": resolved})
    b.ecs_map(
        "map",
        partition_input=source,
        partitions=step.partitions,
        max_concurrency=step.max_concurrency,
        next_=b.commit,
    )
    return first
