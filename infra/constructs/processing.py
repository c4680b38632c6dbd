"""The roles of steps that run as SageMaker Processing jobs (user steps that ask for an instance type)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import suppress
from stepml.cloud.asl.steps import ProcessingNeed

_COLON = ArnFormat.COLON_RESOURCE_NAME


class ProcessingRoles(Construct):
    """One role per Processing step: the artifact bucket, logs, image pulls, its secrets, the spec's statements."""

    def __init__(self, scope: Construct, id_: str, *, jobs: Mapping[str, ProcessingNeed], bucket: s3.IBucket) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.roles: dict[str, iam.Role] = {}
        log_arn = stack.format_arn(service="logs", resource="log-group", resource_name="/aws/sagemaker/ProcessingJobs*")
        for name, need in jobs.items():
            role = iam.Role(self, f"Role-{name}", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
            bucket.grant_read_write(role)
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[log_arn, f"{log_arn}:*"],
                )
            )
            role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                    resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
                )
            )
            for ref in _secret_refs(need):
                kind, _, where = ref.partition(":")
                if kind == "ssm":
                    arn = stack.format_arn(service="ssm", resource="parameter", resource_name=where.lstrip("/"))
                    role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[arn]))
                else:
                    arn = (
                        where
                        if where.startswith("arn:")
                        else stack.format_arn(
                            service="secretsmanager", resource="secret", resource_name=f"{where}-*", arn_format=_COLON
                        )
                    )
                    role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[arn]))
            for statement in need.policy:
                role.add_to_policy(iam.PolicyStatement.from_json(statement))
            suppress(
                role,
                "AwsSolutions-IAM5",
                "Processing jobs read and write keys under the artifact bucket only; their log groups; "
                "ecr:GetAuthorizationToken has no resource level; ECR pulls from this account's repositories "
                "(a prebuilt image URI can name any of them); the spec's own statements for the step.",
            )
            self.roles[name] = role


def _secret_refs(need: ProcessingNeed) -> list[str]:
    import json

    refs: dict[str, str] = json.loads(need.environment.get("STEPML_SECRET_REFS", "{}"))
    return sorted(refs.values())
