"""The CDK app: every pipeline of the project compiled to its stacks. Environment-agnostic, offline.

A pipeline is three stacks: data (artifact bucket, lock table, Athena workgroup), monitoring, pipeline. Deployed
together, the project's pipelines share the first one's data stack - one artifact bucket, so one model registry
(``models/<name>/``) - and each has its own monitoring and pipeline stacks (state machine, schedule, dashboard).

Run by the CDK CLI (``npx cdk synth``, see cdk.json) or directly (``python -m infra.app``, writes ./cdk.out).
Context (``-c key=value``): ``project`` (default stepml.yaml: every pipeline it lists) or ``spec`` (one pipeline),
``stage`` (dev), ``image_uri`` (a prebuilt image; otherwise the spec's ``container.image_uri``, otherwise CDK
builds ``Dockerfile`` at deploy time), ``warehouse_buckets`` (comma-separated bucket names or ARNs the warehouse's
tables are in, besides the spec's ``deploy.warehouse_buckets``), ``network`` (``nat`` | ``endpoints`` | ``public``,
overrides ``deploy.network``), ``notebook`` (``true``: the exploration notebook, as ``deploy.notebook`` does).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import REPO_ROOT, InfraConfig, with_network
from infra.stacks.data_stack import DataStack
from infra.stacks.monitoring_stack import MonitoringStack
from infra.stacks.pipeline_stack import PipelineStack
from stepml.spec import load_spec


class Stacks:
    def __init__(self, data: DataStack, monitoring: MonitoringStack, pipeline: PipelineStack) -> None:
        self.data, self.monitoring, self.pipeline = data, monitoring, pipeline


def build(app: cdk.App, config: InfraConfig, *, nag: bool = True, data: DataStack | None = None) -> Stacks:
    """Add the pipeline's stacks to ``app`` (``data``: another pipeline's data stack, shared)."""
    base = config.prefix
    state_machine_name = base
    tags = {"stepml:pipeline": config.name, "stepml:stage": config.stage}
    own_data = data is None
    if data is None:
        data = DataStack(
            app, f"{base}-data", config=config, description=f"stepml {config.name}: artifacts, locks, Athena"
        )
    monitoring = MonitoringStack(
        app,
        f"{base}-monitoring",
        config=config,
        state_machine_name=state_machine_name,
        description=f"stepml {config.name}: alarms, dashboard, notifications topic",
    )
    pipeline = PipelineStack(
        app,
        f"{base}-pipeline",
        config=config,
        data=data,
        topic=monitoring.topic.topic,
        state_machine_name=state_machine_name,
        description=f"stepml {config.name}: state machine, SageMaker, ECS, schedule",
    )
    for stack in (data, monitoring, pipeline) if own_data else (monitoring, pipeline):
        for k, v in tags.items():
            cdk.Tags.of(stack).add(k, v)
    if nag:
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return Stacks(data, monitoring, pipeline)


def build_project(app: cdk.App, configs: list[InfraConfig], *, nag: bool = True) -> list[Stacks]:
    """Every pipeline's stacks; the first pipeline's data stack serves them all (one bucket: one registry)."""
    check_project(configs)
    out: list[Stacks] = []
    for i, config in enumerate(configs):
        out.append(build(app, config, nag=nag and i == 0, data=out[0].data if out else None))
    return out


def check_project(configs: list[InfraConfig]) -> None:
    """Pipelines deployed together share a warehouse and a data stack, and each model is trained (its model
    package group created) by one pipeline only."""
    from stepml.errors import Issue, SpecError

    issues: list[Issue] = []
    first = configs[0].pipeline
    trainers: dict[str, str] = {}
    for config in configs:
        pipeline = config.pipeline
        cloud = ("engine", "athena", "redshift")  # what the data stack is made of (the local warehouse aside)
        if any(getattr(pipeline.spec.warehouse, k) != getattr(first.spec.warehouse, k) for k in cloud):
            issues.append(Issue(f"{pipeline.name}: warehouse", f"differs from {first.name}'s; deployed together, "
                                "the pipelines share one data stack (bucket, locks, Athena workgroup)"))  # fmt: skip
        for name, step in pipeline.steps.items():
            if step.type != "gate":
                continue
            found = pipeline.context(name).model()
            model = found[0] if found else ""
            if model in trainers and trainers[model] != pipeline.name:
                issues.append(Issue(f"{pipeline.name}: steps.{name}", f"model {model!r} is also registered by "
                                    f"pipeline {trainers[model]!r}; one pipeline owns a model's registry"))  # fmt: skip
            trainers[model] = pipeline.name
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        issues.append(Issue("pipelines", f"pipeline names repeat: {names}"))
    if issues:
        raise SpecError(issues, "the project's pipelines")


def config_from_context(app: cdk.App, spec: Path | None = None) -> InfraConfig:
    """The typed config from CDK context; the Lambda asset is staged inside the output directory."""

    def ctx(key: str) -> str | None:
        value = app.node.try_get_context(key)
        return str(value) if value not in (None, "") else None

    pipeline = load_spec(spec or Path(ctx("spec") or REPO_ROOT / "pipeline.yaml"))
    network = ctx("network")
    if network is not None:  # before anything compiles the spec: the VPC and the RunTask parameters must agree
        pipeline = with_network(pipeline, network)
    staging = "lambda" if spec is None else f"lambda-{pipeline.name}"
    return InfraConfig(
        pipeline=pipeline,
        stage=ctx("stage") or "dev",
        image_uri=ctx("image_uri"),
        warehouse_buckets=tuple(b.strip() for b in (ctx("warehouse_buckets") or "").split(",") if b.strip()),
        asset_dir=Path(app.outdir) / "stepml-staging" / staging,
        notebook=(ctx("notebook") or "false").lower() in ("true", "1", "yes"),
    )


def configs_from_context(app: cdk.App) -> list[InfraConfig]:
    """``-c spec=FILE``: that pipeline; otherwise every pipeline of the project (``-c project=stepml.yaml``)."""
    from stepml.spec.project import spec_files

    if app.node.try_get_context("spec") not in (None, ""):
        return [config_from_context(app)]
    project = Path(str(app.node.try_get_context("project") or REPO_ROOT / "stepml.yaml"))
    return [config_from_context(app, path) for path in spec_files(project.parent)]


def main() -> None:
    """Under the CDK CLI the output directory comes from it; run directly, output goes to ./cdk.out."""
    import os

    app = cdk.App(outdir=None if "CDK_OUTDIR" in os.environ else str(REPO_ROOT / "cdk.out"))
    build_project(app, configs_from_context(app))
    app.synth()


if __name__ == "__main__":
    main()
