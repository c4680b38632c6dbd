"""A python step on a laptop: ``python -m stepml.entry`` running the user's function (once per partition when
the step is partitioned), its secrets from the environment."""

from __future__ import annotations

from stepml.sdk import Input, LocalContext, StepResult
from steps.python.spec import ENTRY, PythonStep
from steps.python.summary import merge


def inputs(ctx: LocalContext, step: PythonStep) -> dict[str, Input]:
    """Each upstream output: its tables, or - for a step producing a model - the model's folder."""
    out: dict[str, Input] = {}
    for name in step.needs:
        if name == step.partition_by and step.partitions is not None:
            continue
        produced = ctx.pipeline.step_type(name).produces
        if "model" in produced and "table" not in produced:
            model = ctx.upstream[name]["summary"]["model"]
            out[name] = ctx.input(name, model_dir=ctx.model_dir(model["uri"]), with_tables=False)
        else:
            out[name] = ctx.input(name)
    return out


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, PythonStep)
    secrets = tuple(sorted(step.secrets))
    if step.partitions is not None and step.partition_by is not None:
        results = ctx.run_partitions(
            ENTRY,
            step.entry_config(),
            partitioned=step.partition_by,
            partitions=step.partitions,
            max_concurrency=step.max_concurrency,
            inputs=inputs(ctx, step),
            threads=step.resources.threads,
            secrets=secrets,
        )
        return StepResult(**merge(results))
    invocation = ctx.invocation(
        ENTRY, step.entry_config(), inputs(ctx, step), threads=step.resources.threads, secrets=secrets
    )
    return ctx.run_entry(invocation)
