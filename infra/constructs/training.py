"""SageMaker: the training execution role and, per model the pipeline trains, the model package group that holds
its candidates and champion (``<stepml-stage>-<model>``, shared by every pipeline of the project that scores it)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.nag import suppress
from stepml.cloud.handlers.models import GROUP_NAME, group_name


class Training(Construct):
    """The role a training job assumes (read inputs, write the model, pull the image, write logs)."""

    def __init__(self, scope: Construct, id_: str, *, group_prefix: str, models: list[str], bucket: s3.IBucket) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.group_prefix = group_prefix
        self.group_names = {m: group_name(group_prefix, m) for m in models}
        for model, name in self.group_names.items():
            if not GROUP_NAME.match(name):
                raise ValueError(
                    f"the model package group of model {model!r}, {name!r}, is not a valid ModelPackageGroupName "
                    "(1-63 characters of [a-zA-Z0-9] and '-'): shorten the model's name or the stage"
                )
        self.groups = {
            m: sagemaker.CfnModelPackageGroup(
                self,
                f"ModelPackageGroup{''.join(p.capitalize() for p in m.split('-'))}",
                model_package_group_name=g,
                model_package_group_description=f"stepml model {m}: candidates; the latest Approved is the champion",
            )
            for m, g in self.group_names.items()
        }
        self.role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        bucket.grant_read_write(self.role)
        log_arn = stack.format_arn(service="logs", resource="log-group", resource_name="/aws/sagemaker/TrainingJobs*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_arn, f"{log_arn}:*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],  # no resource-level permissions
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
            )
        )
        suppress(
            self.role,
            "AwsSolutions-IAM5",
            "Training jobs read and write keys under the artifact bucket only; log groups under "
            "/aws/sagemaker/TrainingJobs; cloudwatch:PutMetricData and ecr:GetAuthorizationToken have no resource "
            "level (AWS requires '*', the first is limited by a namespace condition); ECR pulls from any repository "
            "of this account because a prebuilt image URI can name any of them.",
        )
