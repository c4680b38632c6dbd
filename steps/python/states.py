"""A python step in AWS: an ECS task (a Distributed Map of them when partitioned) running the user's function
from the pipeline image, or - when the step asks for an instance type - a SageMaker Processing job."""

from __future__ import annotations

from stepml.sdk import StepStates
from steps.python.spec import ENTRY, PythonStep


def build(b: StepStates) -> str:
    step = b.spec
    assert isinstance(step, PythonStep)
    inputs: dict[str, dict[str, str]] = {}
    for name in step.needs:
        produced = b.pipeline.step_type(name).produces
        model = "model" in produced and "table" not in produced
        inputs[name] = {"model_uri": b.result(name, "summary.model.uri")} if model else {}
    secrets = {name: s.ref() for name, s in sorted(step.secrets.items())}
    policy = tuple(s.policy() for s in step.iam)
    if step.resources.instance_type:
        b.processing(ENTRY, step.entry_config(), threads=step.resources.threads, secrets=secrets, policy=policy)
        first = b.inputs_state(inputs, next_=b.state("stage"))
        b.processing_job("run job", next_=b.commit)
        return first
    b.process(ENTRY, step.entry_config(), threads=step.resources.threads, secrets=secrets, policy=policy)
    if step.partitions is not None and step.partition_by is not None:
        first = b.inputs_state(inputs, next_=b.state("partition"))
        b.ecs_map(
            "map",
            partition_input=step.partition_by,
            partitions=step.partitions,
            max_concurrency=step.max_concurrency,
            next_=b.commit,
        )
        return first
    first = b.inputs_state(inputs, next_=b.state("run task"))
    b.ecs_task("run task", next_=b.commit)
    return first
