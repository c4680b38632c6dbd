"""The Studio alternative to the notebook instance (``deploy.notebook.kind: studio``): a SageMaker Studio domain
with IAM authentication in the stacks' VPC, one user profile per name in ``deploy.notebook.users``, and a
JupyterLab lifecycle configuration that installs the project (``deploy.notebook.install``) when an app starts.

The domain's execution role is the notebook instance's role (``ExplorationRole``: reads the artifact bucket,
queries the warehouse in the pipeline's Athena workgroup), plus what the Studio UI does as that role on this
domain only: describe it, create and delete the users' spaces and JupyterLab apps. The domain itself is free; its
apps bill per instance-hour while they run, and its EFS home volume per GB-month (docs/deploy.md, "Cost").

AWS rules (tests/infra/test_studio.py cites the pages): ``VpcId`` and ``SubnetIds`` are required; with
``AppNetworkAccessType: VpcOnly`` apps reach SageMaker and the internet only through the VPC (a NAT gateway or
interface endpoints), so VpcOnly is used only where the subnets route through the NAT gateway (``network: nat``),
and ``PublicInternetOnly`` otherwise; NFS (TCP 2049) between the apps and the domain's EFS volume must be allowed.
"""

from __future__ import annotations

import re
import shlex

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.constructs.notebook import ExplorationAccess, ExplorationRole, encoded
from infra.nag import suppress
from stepml.spec.deploy import NotebookSpec

HOME = "/home/sagemaker-user"
LOG = f"{HOME}/stepml-install.log"


def studio_script(install: str) -> str:
    """The JupyterLab lifecycle script: install ``install`` into the app's Python environment, in the background
    (the app does not wait for pip); an ``s3://`` wheel or source archive (e.g. in the artifact bucket, which the
    role reads) is downloaded with boto3 first."""
    if install.startswith("s3://"):
        bucket, _, key = install.removeprefix("s3://").partition("/")
        local = f"/tmp/{key.rsplit('/', 1)[-1]}"
        fetch = f"python - <<'PY'\nimport boto3\nboto3.client('s3').download_file({bucket!r}, {key!r}, {local!r})\nPY\n"
        command = f"{fetch}pip install --quiet {shlex.quote(local)}\n"
    else:
        command = f"pip install --quiet {shlex.quote(install)}\n"
    return (
        "#!/bin/bash\nset -eu\n"
        "cat > /tmp/stepml-install.sh <<'EOF'\nset -e\n"
        f"{command}"
        "EOF\n"
        f"nohup bash /tmp/stepml-install.sh > {LOG} 2>&1 &\n"
    )


def resource_name(text: str) -> str:
    """``text`` as a SageMaker name: ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``."""
    return re.sub(r"-+$", "", re.sub(r"[^a-zA-Z0-9-]", "-", text).lstrip("-")[:63]) or "stepml"


class StudioDomain(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        spec: NotebookSpec,
        vpc: ec2.IVpc,
        subnets: ec2.SelectedSubnets,
        vpc_only: bool,
        access: ExplorationAccess,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        domain_name = resource_name(name)
        reader = ExplorationRole(
            self, "Execution", description=f"{name}: Studio execution role", access=access, log_groups="studio:*"
        )
        self.role, self.statements = reader.role, reader.statements
        self.lifecycle = sagemaker.CfnStudioLifecycleConfig(
            self,
            "Lifecycle",
            studio_lifecycle_config_name=resource_name(f"{name}-install"),
            studio_lifecycle_config_app_type="JupyterLab",
            studio_lifecycle_config_content=encoded(studio_script(spec.install)),
        )
        self.security_group = ec2.SecurityGroup(
            self, "Apps", vpc=vpc, description=f"{name}: Studio apps", allow_all_outbound=True
        )
        self.security_group.connections.allow_internally(ec2.Port.tcp(2049), "NFS to the domain's EFS home volume")
        lifecycle_arn = self.lifecycle.attr_studio_lifecycle_config_arn
        self.domain = sagemaker.CfnDomain(
            self,
            "Domain",
            domain_name=domain_name,
            auth_mode="IAM",
            vpc_id=vpc.vpc_id,
            subnet_ids=subnets.subnet_ids,
            app_network_access_type="VpcOnly" if vpc_only else "PublicInternetOnly",
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=self.role.role_arn,
                security_groups=[self.security_group.security_group_id],
                studio_web_portal="ENABLED",
                default_landing_uri="studio::",
                jupyter_lab_app_settings=sagemaker.CfnDomain.JupyterLabAppSettingsProperty(
                    default_resource_spec=sagemaker.CfnDomain.ResourceSpecProperty(
                        instance_type=spec.instance_type, lifecycle_config_arn=lifecycle_arn
                    ),
                    lifecycle_config_arns=[lifecycle_arn],
                    app_lifecycle_management=sagemaker.CfnDomain.AppLifecycleManagementProperty(
                        idle_settings=sagemaker.CfnDomain.IdleSettingsProperty(
                            lifecycle_management="ENABLED", idle_timeout_in_minutes=spec.idle_minutes
                        )
                    ),
                ),
            ),
        )
        self.domain.node.add_dependency(self.role)
        domain_id = self.domain.attr_domain_id
        self.profiles = [
            sagemaker.CfnUserProfile(self, f"User{i}", domain_id=domain_id, user_profile_name=user)
            for i, user in enumerate(spec.users)
        ]

        def arn(resource: str, rest: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=rest)

        # what the Studio UI does as the execution role, on this domain only (a policy of its own: the domain
        # depends on the role's data permissions, these depend on the domain)
        studio = [
            iam.PolicyStatement(actions=["sagemaker:DescribeDomain"], resources=[self.domain.attr_domain_arn]),
            iam.PolicyStatement(
                actions=["sagemaker:DescribeUserProfile", "sagemaker:ListTags", "sagemaker:CreatePresignedDomainUrl"],
                resources=[arn("user-profile", f"{domain_id}/*")],
            ),
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateSpace",
                    "sagemaker:UpdateSpace",
                    "sagemaker:DeleteSpace",
                    "sagemaker:DescribeSpace",
                    "sagemaker:CreateApp",
                    "sagemaker:DeleteApp",
                    "sagemaker:DescribeApp",
                    "sagemaker:AddTags",
                ],
                resources=[arn("space", f"{domain_id}/*"), arn("app", f"{domain_id}/*")],
            ),
            iam.PolicyStatement(
                actions=["sagemaker:ListSpaces", "sagemaker:ListApps", "sagemaker:ListUserProfiles"], resources=["*"]
            ),
        ]
        self.studio_policy = iam.Policy(self, "StudioApps", statements=studio, roles=[self.role])
        self.statements.extend(studio)
        suppress(self.studio_policy, "AwsSolutions-IAM5", "The spaces and apps of this domain only (their names "
                 "are the users'); the List* calls the Studio UI makes, on '*' since SageMaker List* actions have "
                 "no resource-level permissions.")  # fmt: skip
        self.url = self.domain.attr_url
