"""The pipeline image (prebuilt URI or built from the Dockerfile) and the ECS cluster and task definitions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.nag import suppress
from stepml.cloud.asl import CONTAINER_NAME
from stepml.cloud.asl.steps import TaskNeed


class StepContainers(Construct):
    """One image for every step; one Fargate task definition per step that runs as an ECS task (what the compiled
    definition needs: ``stepml.cloud.asl.steps.TaskNeed``)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        tasks: Mapping[str, TaskNeed],
        prefix: str,
        image_uri: str | None,
        dockerfile: Path,
        code_digest: str,
        build_args: Mapping[str, str],
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
                build_args=dict(build_args),
                extra_hash=code_digest,  # the image's tag changes with the code the steps' keys hold
            )
            self.image_uri = self.asset.image_uri
            image = ecs.ContainerImage.from_docker_image_asset(self.asset)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.execution_role = iam.Role(
            self, "ExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        )
        if image_uri:
            self._grant_pull(image_uri)
        self.task_roles: dict[str, iam.Role] = {}
        self.task_definitions: dict[str, ecs.FargateTaskDefinition] = {}
        for name, need in tasks.items():
            self.task_definitions[name] = self._task(name, need, image, prefix, bucket)
        suppress(
            self.execution_role,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); image pulls are "
            "scoped to the image's repository.",
        )

    def _task(
        self, name: str, need: TaskNeed, image: ecs.ContainerImage, prefix: str, bucket: s3.IBucket
    ) -> ecs.FargateTaskDefinition:
        """A step's task definition: its size, its settings, its own task role (the artifact bucket, and the
        statements the spec gives it), its secrets (resolved by ECS into the environment; only their names and
        ARNs are in the template)."""
        role = iam.Role(self, f"TaskRole-{name}", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        bucket.grant_read_write(role)
        for statement in need.policy:
            role.add_to_policy(iam.PolicyStatement.from_json(statement))
        self.task_roles[name] = role
        task = ecs.FargateTaskDefinition(
            self,
            f"Task-{name}",
            family=f"{prefix}-{name}".replace("_", "-"),
            cpu=need.cpu,
            memory_limit_mib=need.memory,
            task_role=role,
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
            command=["python", "-m", "stepml.cloud.task"],
            environment={"ARTIFACT_BUCKET": bucket.bucket_name, **need.environment},
            secrets={env: self._secret(name, env, ref) for env, ref in need.secrets.items()},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=self.log_group),
        )
        suppress(
            task,
            "AwsSolutions-ECS2",
            "The environment holds the step's settings, the artifact bucket name and the code digest: not "
            "secrets. Secrets are ECS secrets (SSM / Secrets Manager references), never values.",
        )
        suppress(
            role,
            "AwsSolutions-IAM5",
            "Tasks read their inputs and write their outputs anywhere under the artifact bucket "
            "(keys are content hashes known only at run time); scoped to that one bucket. Statements the "
            "spec adds for the step are the user's.",
        )
        return task

    def _secret(self, step: str, env: str, ref: str) -> ecs.Secret:
        kind, _, where = ref.partition(":")
        construct_id = f"Secret-{step}-{env}"
        if kind == "ssm":
            parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
                self, construct_id, parameter_name=where
            )
            return ecs.Secret.from_ssm_parameter(parameter)
        if where.startswith("arn:"):
            secret = secretsmanager.Secret.from_secret_complete_arn(self, construct_id, where)
        else:
            secret = secretsmanager.Secret.from_secret_name_v2(self, construct_id, where)
        return ecs.Secret.from_secrets_manager(secret)

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
