"""A read-out in AWS: one ECS task running the readout entry over its upstream outputs."""

from __future__ import annotations

from stepml.sdk import StepStates
from steps.readout.spec import ENTRY, ReadoutStep


def build(b: StepStates) -> str:
    step = b.spec
    assert isinstance(step, ReadoutStep)
    b.process(ENTRY, step.entry_config(b.pipeline.context(b.name)), threads=step.resources.threads)
    first = b.inputs_state({name: {} for name in step.needs}, next_=b.state("run task"))
    b.ecs_task("run task", next_=b.commit)
    return first
