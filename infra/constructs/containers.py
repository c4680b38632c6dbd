"""The pipeline image (prebuilt URI or built from the Dockerfile) and the ECS cluster and task definitions."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import suppress
from stepml.cloud.asl import CONTAINER_NAME
from stepml.spec import Pipeline


class StepContainers(Construct):
    """One image for train, score and check; one Fargate task definition per score/check step (its cpu/memory)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline: Pipeline,
        prefix: str,
        image_uri: str | None,
        dockerfile: Path,
        vpc: ec2.IVpc,
        bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, id_)
        self.asset: ecr_assets.DockerImageAsset | None = None
        image: ecs.ContainerImage
        if image_uri:
            self.image_uri = image_uri
            image = ecs.ContainerImage.from_registry(image_uri)
        else:  # built and pushed by `cdk deploy` (needs Docker there); synth only records the asset
            self.asset = ecr_assets.DockerImageAsset(
                self,
                "Image",
                directory=str(dockerfile.parent),
                file=dockerfile.name,
                platform=ecr_assets.Platform.LINUX_AMD64,
            )
            self.image_uri = self.asset.image_uri
            image = ecs.ContainerImage.from_docker_image_asset(self.asset)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.task_role = iam.Role(self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        bucket.grant_read_write(self.task_role)
        self.execution_role = iam.Role(
            self, "ExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        )
        if image_uri:
            self._grant_pull(image_uri)
        self.task_definitions: dict[str, ecs.FargateTaskDefinition] = {}
        for name, step in pipeline.spec.steps.items():
            if step.type not in ("score", "check"):
                continue
            task = ecs.FargateTaskDefinition(
                self,
                f"Task-{name}",
                family=f"{prefix}-{name}".replace("_", "-"),
                cpu=step.resources.cpu or 1024,
                memory_limit_mib=step.resources.memory or 2048,
                task_role=self.task_role,
                execution_role=self.execution_role,
                runtime_platform=ecs.RuntimePlatform(
                    cpu_architecture=ecs.CpuArchitecture.X86_64,
                    operating_system_family=ecs.OperatingSystemFamily.LINUX,
                ),
            )
            task.add_container(
                CONTAINER_NAME,
                image=image,
                essential=True,
                user="1000",
                command=["python", "-m", "stepml.cloud.task", step.type],
                environment={"ARTIFACT_BUCKET": bucket.bucket_name, "STEPML_STEP": name},
                logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=self.log_group),
            )
            self.task_definitions[name] = task
            suppress(
                task,
                "AwsSolutions-ECS2",
                "The only environment values are the artifact bucket name and the step name: not secrets.",
            )
        suppress(
            self.task_role,
            "AwsSolutions-IAM5",
            "Tasks read their inputs and write their outputs anywhere under the artifact bucket "
            "(keys are content hashes known only at run time); scoped to that one bucket.",
        )
        suppress(
            self.execution_role,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); image pulls are "
            "scoped to the image's repository.",
        )

    def _grant_pull(self, image_uri: str) -> None:
        """A prebuilt image in ECR: the execution role may pull it (``from_registry`` grants nothing; a built
        image's pull rights come with the asset). Images outside ECR need no IAM permission."""
        match = _ECR_URI.match(image_uri)
        if match is None:
            return
        account, region, repository = match.group("account", "region", "repository")
        self.execution_role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[f"arn:aws:ecr:{region}:{account}:repository/{repository}"],
            )
        )


_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::[\w.-]+|@sha256:[0-9a-f]{64})?$"
)
