"""The spec's ``deploy:`` and ``notifications:`` sections: what the AWS stacks need beyond the steps (warehouse
buckets, network, notebook) and where run summaries go (a webhook for local runs, a Slack channel in AWS)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NetworkMode = Literal["nat", "endpoints", "public"]  # docs/deploy.md, "Network"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # as stepml.spec.models


class NotebookSpec(_Model):
    """Where the team explores runs in AWS, with a role that reads the artifact bucket and queries the warehouse.

    ``kind: instance`` (default): a SageMaker notebook instance whose lifecycle configuration installs ``install``
    (a pip requirement, e.g. the project's git URL) at every start. ``kind: studio``: a SageMaker Studio domain
    (IAM authentication, in the stacks' VPC) with one user profile per name in ``users`` and a JupyterLab
    lifecycle configuration that installs ``install`` when an app starts; ``instance_type`` is then the JupyterLab
    apps' default instance type, and an app idle for ``idle_minutes`` is shut down (apps bill while they run)."""

    kind: Literal["instance", "studio"] = "instance"
    instance_type: str = Field("ml.t3.medium", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    install: str = "stepml"
    volume_gb: int = Field(10, ge=5, le=16384)
    # Studio only. users: user profile names (UserProfileName, API_CreateUserProfile); idle_minutes: a JupyterLab
    # app idle this long is shut down (IdleSettings.IdleTimeoutInMinutes, 60 to 525,600; API_IdleSettings)
    users: list[Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", max_length=63)]] = []
    idle_minutes: int = Field(60, ge=60, le=525_600)

    @model_validator(mode="after")
    def _users_for_studio(self) -> NotebookSpec:
        if self.kind == "studio" and not self.users:
            raise ValueError("kind 'studio' needs at least one name in users (one Studio user profile each)")
        if self.kind == "instance" and self.users:
            raise ValueError("users are Studio user profiles: only with kind 'studio'")
        if self.kind == "instance" and self.install.startswith("s3://"):
            raise ValueError("an s3:// install is downloaded by the Studio lifecycle script only; the instance's "
                             "pip-installs a requirement (a package, a git+https:// URL)")  # fmt: skip
        lowered = [u.lower() for u in self.users]  # user profile names are not case sensitive
        if len(set(lowered)) != len(lowered):
            raise ValueError(f"users repeat (names are not case sensitive): {self.users}")
        return self


class DeploySpec(_Model):
    """What the AWS stacks need to know about the account beyond the steps: the S3 buckets holding the warehouse's
    tables (names or ``arn:aws:s3:::`` ARNs), which the state machine's role may read (Athena reads them as its
    caller; ``cdk -c warehouse_buckets=a,b`` adds to them); the network the ECS tasks run in (``nat``: private
    subnets behind one NAT gateway; ``endpoints``: isolated subnets reaching ECR, S3 and CloudWatch Logs through
    VPC endpoints, no NAT gateway; ``public``: public subnets only, each task with a public IP and a security group
    without inbound rules, no NAT gateway, no interface endpoint); an optional notebook (``-c notebook=true`` adds
    the default one)."""

    warehouse_buckets: list[str] = []
    network: NetworkMode = "nat"
    notebook: NotebookSpec | None = None


class SlackSpec(_Model):
    """A Slack channel the chat integration (Amazon Q Developer in chat applications) posts the topic's messages
    to. ``workspace_id`` comes from the one-time authorization in its console (docs/deploy.md)."""

    workspace_id: str = Field(pattern=r"^[0-9A-Z]{1,255}$")
    channel_id: str = Field(pattern=r"^[A-Za-z0-9]{1,255}$")


class NotificationsSpec(_Model):
    """Where run summaries go. ``webhook_env`` names the environment variable holding a webhook URL (a secret:
    never written in the spec) that ``stepml run`` posts the summary to; ``slack`` is the channel the deployed
    stacks' topic reaches through the chat integration."""

    webhook_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    slack: SlackSpec | None = None
