"""An optional SageMaker notebook instance for exploring runs in AWS (``deploy.notebook`` or ``-c notebook=true``).

Its lifecycle configuration installs the project at every start, so ``stepml.load(step, run=..., root="s3://...")``
and ``stepml.fetch(sql, engine="athena")`` work in it. Its role may only read: the artifact bucket (runs, outputs,
models), the warehouse's Glue tables and buckets, and run queries in the pipeline's Athena workgroup - whose
results Athena writes as the caller, so the role may also write under ``athena-results/`` in the artifact bucket.

SageMaker limits: each lifecycle script is base64 text of at most 16,384 characters, and a script running longer
than 5 minutes fails the start - the install therefore runs in the background (``nohup``); its log is
``/home/ec2-user/SageMaker/stepml-install.log``.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from aws_cdk import ArnFormat, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.nag import suppress
from stepml.errors import Issue, SpecError
from stepml.spec.deploy import NotebookSpec
from stepml.spec.models import AthenaWarehouse

SCRIPT_LIMIT = 16_384  # characters of base64, per lifecycle script (NotebookInstanceLifecycleHook.Content)
LOG = "/home/ec2-user/SageMaker/stepml-install.log"


def on_start_script(install: str) -> str:
    """The on-start script: pip-install ``install`` into the notebook's ``python3`` environment, in the
    background, as the notebook user."""
    requirement = shlex.quote(install)
    return (
        "#!/bin/bash\nset -euo pipefail\n"
        "sudo -u ec2-user -i <<'EOF'\n"
        f"nohup bash -c 'source /home/ec2-user/anaconda3/bin/activate python3 && pip install --quiet {requirement}' "
        f"> {LOG} 2>&1 &\n"
        "EOF\n"
    )


def encoded(script: str) -> str:
    text = base64.b64encode(script.encode()).decode()
    if len(text) > SCRIPT_LIMIT:
        raise SpecError([Issue("deploy.notebook.install", f"the lifecycle script is {len(text)} base64 characters; "
                               f"SageMaker takes at most {SCRIPT_LIMIT}")])  # fmt: skip
    return text


@dataclass(frozen=True)
class ExplorationAccess:
    """What a notebook environment may read: the artifact bucket, the warehouse through Athena (``athena`` None when
    the engine is not Athena), the warehouse's own buckets."""

    bucket: s3.IBucket
    athena: AthenaWarehouse | None
    athena_workgroup: str | None
    warehouse_bucket_arns: tuple[str, ...]


class ExplorationRole(Construct):
    """The role a notebook environment runs as (the instance's, or the Studio domain's execution role): it may read
    the artifact bucket, query the warehouse in the pipeline's Athena workgroup and write its own logs
    (``log_groups``: the log-group name pattern under ``/aws/sagemaker/``). SageMaker assumes it, so it trusts
    ``sagemaker.amazonaws.com`` (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        description: str,
        access: ExplorationAccess,
        log_groups: str,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        bucket, athena, athena_workgroup = access.bucket, access.athena, access.athena_workgroup
        warehouse_bucket_arns = access.warehouse_bucket_arns
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
        )
        self.statements: list[iam.PolicyStatement] = []
        self.allow(["s3:GetObject"], [bucket.arn_for_objects("*")])
        self.allow(["s3:ListBucket", "s3:GetBucketLocation"], [bucket.bucket_arn])
        if athena is not None and athena_workgroup is not None:
            self.allow(
                ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                 "athena:StopQueryExecution", "athena:GetWorkGroup"],
                [stack.format_arn(service="athena", resource="workgroup", resource_name=athena_workgroup)],
            )  # fmt: skip
            db = athena.database
            self.allow(
                ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"],
                [
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=db),
                    stack.format_arn(service="glue", resource="table", resource_name=f"{db}/*"),
                ],
            )
            self.allow(["s3:PutObject", "s3:AbortMultipartUpload"], [bucket.arn_for_objects("athena-results/*")])
            if warehouse_bucket_arns:
                self.allow(["s3:ListBucket", "s3:GetBucketLocation"], list(warehouse_bucket_arns))
                self.allow(["s3:GetObject"], [f"{a}/*" for a in warehouse_bucket_arns])
        logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/{log_groups}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                   [logs])  # fmt: skip
        suppress(self.role, "AwsSolutions-IAM5", "Reads objects under the artifact bucket and the warehouse buckets, "
                 "the warehouse database's Glue tables, writes Athena results under athena-results/, and writes the "
                 "notebook's own log streams (and, for Studio, manages the apps and spaces of its own domain).")  # fmt: skip

    def allow(self, actions: list[str], resources: list[str]) -> None:
        statement = iam.PolicyStatement(actions=actions, resources=resources)
        self.statements.append(statement)
        self.role.add_to_principal_policy(statement)


class ExplorationNotebook(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        spec: NotebookSpec,
        access: ExplorationAccess,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        reader = ExplorationRole(
            self, "Reader", description=f"{name}: notebook", access=access, log_groups="NotebookInstances:*"
        )
        self.role, self.statements = reader.role, reader.statements
        self.lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{name}-install"[:63],
            on_start=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=encoded(on_start_script(spec.install))
                )
            ],
        )
        self.key = kms.Key(self, "Key", enable_key_rotation=True, description=f"{name}: notebook volume")
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=name[:63],
            instance_type=spec.instance_type,
            role_arn=self.role.role_arn,
            lifecycle_config_name=self.lifecycle.attr_notebook_instance_lifecycle_config_name,
            volume_size_in_gb=spec.volume_gb,
            kms_key_id=self.key.key_id,
            root_access="Disabled",
            direct_internet_access="Enabled",
        )
        self.instance.node.add_dependency(self.role)
        self.url = Fn.join("", ["https://", self.instance.attr_notebook_instance_name, ".notebook.",
                                stack.region, ".sagemaker.aws/lab"])  # fmt: skip
        suppress(self.instance, "AwsSolutions-SM1", "No VPC: the notebook only calls S3, Athena and Glue, and a "
                 "VPC would need a NAT gateway or endpoints for pip; its role limits what it can reach.")  # fmt: skip
        suppress(self.instance, "AwsSolutions-SM3", "Direct internet access installs the project with pip at "
                 "every start (the lifecycle configuration).")  # fmt: skip
