"""The CDK app: the spec compiled to three stacks (data, monitoring, pipeline). Environment-agnostic, offline.

Run by the CDK CLI (``npx cdk synth``, see cdk.json) or directly (``python -m infra.app``, writes ./cdk.out).
Context (``-c key=value``): ``spec`` (default pipeline.yaml), ``stage`` (dev), ``image_uri`` (a prebuilt image;
otherwise the spec's ``container.image_uri``, otherwise CDK builds ``Dockerfile`` at deploy time),
``warehouse_buckets`` (comma-separated bucket names or ARNs the warehouse's tables are in, besides the spec's
``deploy.warehouse_buckets``).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import REPO_ROOT, InfraConfig
from infra.stacks.data_stack import DataStack
from infra.stacks.monitoring_stack import MonitoringStack
from infra.stacks.pipeline_stack import PipelineStack
from stepml.spec import load_spec


class Stacks:
    def __init__(self, data: DataStack, monitoring: MonitoringStack, pipeline: PipelineStack) -> None:
        self.data, self.monitoring, self.pipeline = data, monitoring, pipeline


def build(app: cdk.App, config: InfraConfig, *, nag: bool = True) -> Stacks:
    """Add the pipeline's stacks to ``app``."""
    base = config.prefix
    state_machine_name = base
    tags = {"stepml:pipeline": config.name, "stepml:stage": config.stage}
    data = DataStack(app, f"{base}-data", config=config, description=f"stepml {config.name}: artifacts, locks, Athena")
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
    for stack in (data, monitoring, pipeline):
        for k, v in tags.items():
            cdk.Tags.of(stack).add(k, v)
    if nag:
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return Stacks(data, monitoring, pipeline)


def config_from_context(app: cdk.App) -> InfraConfig:
    """The typed config from CDK context; the Lambda asset is staged inside the output directory."""

    def ctx(key: str) -> str | None:
        value = app.node.try_get_context(key)
        return str(value) if value not in (None, "") else None

    return InfraConfig(
        pipeline=load_spec(Path(ctx("spec") or REPO_ROOT / "pipeline.yaml")),
        stage=ctx("stage") or "dev",
        image_uri=ctx("image_uri"),
        warehouse_buckets=tuple(b.strip() for b in (ctx("warehouse_buckets") or "").split(",") if b.strip()),
        asset_dir=Path(app.outdir) / "stepml-staging" / "lambda",
    )


def main() -> None:
    """Under the CDK CLI the output directory comes from it; run directly, output goes to ./cdk.out."""
    import os

    app = cdk.App(outdir=None if "CDK_OUTDIR" in os.environ else str(REPO_ROOT / "cdk.out"))
    build(app, config_from_context(app))
    app.synth()


if __name__ == "__main__":
    main()
