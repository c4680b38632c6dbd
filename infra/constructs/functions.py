"""The light Lambda functions (plan, commit, notify): one staged boto3-only asset, three handlers."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from monitoring.metrics import NAMESPACE as METRICS_NAMESPACE
from stepml.cloud.bundle import stage_asset
from stepml.cloud.handlers.models import GROUP_PREFIX_ENV
from stepml.spec import Pipeline
from steps.extract.probe_cloud import ATHENA_WORKGROUP_ENV

RUNTIME = lambda_.Runtime.PYTHON_3_14
HANDLERS = {
    "Plan": "stepml.cloud.handlers.plan.handler",
    "Commit": "stepml.cloud.handlers.commit.handler",
    "Notify": "stepml.cloud.handlers.notify.handler",
}


class PipelineFunctions(Construct):
    """Stages the asset at synth time (``stepml.cloud.bundle.stage_asset``) into ``asset_dir``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline: Pipeline,
        asset_dir: Path,
        bucket: s3.IBucket,
        topic_arn: str,
        model_group_prefix: str,
        athena_workgroup: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.asset_dir = stage_asset(pipeline, asset_dir)
        code = lambda_.Code.from_asset(str(self.asset_dir))
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        redshift = pipeline.spec.warehouse.redshift
        extra: dict[str, dict[str, str]] = {}
        if pipeline.spec.warehouse.engine == "redshift" and redshift and redshift.unload_role_arn:
            extra["Plan"] = {"REDSHIFT_ROLE_ARN": redshift.unload_role_arn}  # the UNLOAD's IAM_ROLE
        for name, handler in HANDLERS.items():
            log_group = logs.LogGroup(
                self, f"{name}Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
            )
            role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
            self.roles[name] = role
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                )
            )
            self.functions[name] = lambda_.Function(
                self,
                name,
                runtime=RUNTIME,
                architecture=lambda_.Architecture.ARM_64,
                code=code,
                handler=handler,
                role=role,
                log_group=log_group,
                memory_size=512 if name == "Commit" else 256,
                timeout=Duration.minutes(5 if name == "Commit" else 1),
                environment={
                    "ARTIFACT_BUCKET": bucket.bucket_name,
                    "TOPIC_ARN": topic_arn,
                    **({GROUP_PREFIX_ENV: model_group_prefix} if name == "Plan" else {}),
                    **({ATHENA_WORKGROUP_ENV: athena_workgroup} if name == "Plan" and athena_workgroup else {}),
                    **extra.get(name, {}),
                },
            )
        self.plan = self.functions["Plan"]
        self.commit = self.functions["Commit"]
        self.notify = self.functions["Notify"]
        bucket.grant_read_write(self.commit)
        bucket.grant_delete(self.commit)  # the extract's UNLOAD files are renamed to data/part-NNNNN.parquet
        self.roles["Commit"].add_to_policy(  # a committed check's metrics, which the spec's alarms watch
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            )
        )
        self.roles["Notify"].add_to_policy(  # each execution's run record, <pipeline>/runs/<run id>.json
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{pipeline.name}/runs/*")])
        )
