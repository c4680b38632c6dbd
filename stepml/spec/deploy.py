"""The spec's ``deploy:`` and ``notifications:`` sections: what the AWS stacks need beyond the steps (warehouse
buckets, network, notebook) and where run summaries go (a webhook for local runs, a Slack channel in AWS)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NetworkMode = Literal["nat", "endpoints", "public"]  # docs/deploy.md, "Network"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # as stepml.spec.models


class NotebookSpec(_Model):
    """A SageMaker notebook instance whose role reads the artifact bucket and queries the warehouse; its lifecycle
    configuration installs ``install`` (a pip requirement, e.g. the project's git URL) at every start."""

    instance_type: str = Field("ml.t3.medium", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    install: str = "stepml"
    volume_gb: int = Field(10, ge=5, le=16384)


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
