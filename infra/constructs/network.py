"""The VPC the ECS tasks run in, with flow logs, in one of three shapes (``deploy.network`` / ``-c network=...``):

- ``nat`` (default): private subnets with egress through one NAT gateway, plus an S3 gateway endpoint. Tasks
  reach anything; the NAT gateway costs by the hour and by the GB processed.
- ``endpoints``: isolated subnets and no NAT gateway. A Fargate task in a subnet without a route to the internet
  pulls its image through the ``ecr.api`` and ``ecr.dkr`` interface endpoints and the image layers from S3
  through the S3 gateway endpoint, sends its ``awslogs`` output through the ``logs`` endpoint, and - when a step
  has ECS secrets - resolves them through the ``ssm`` / ``secretsmanager`` endpoints. Interface endpoints cost by
  the hour per Availability Zone (fewer AZs: ``max_azs``) and by the GB; a step's own code can reach only those
  services (and S3). See docs/deploy.md for the comparison.
- ``public``: public subnets only (a route to the internet gateway), no NAT gateway, no private subnet, no interface
  endpoint. The compiled RunTask parameters give each task a public IP (``AssignPublicIp: ENABLED``), without which
  a Fargate task in a public subnet cannot pull its image; the subnets do not map public IPs on launch, so nothing
  else launched there gets one. The tasks' security group has no inbound rule: the public IP is for egress only.
  The S3 gateway endpoint stays (free: artifacts and image layers do not cross the internet gateway).

SageMaker training and processing jobs get no ``VpcConfig`` in any mode: they run in SageMaker's own VPC, which
reaches S3 and ECR (aws-rules section 31).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stepml.spec.deploy import NetworkMode

TASK_SUBNETS: dict[NetworkMode, ec2.SubnetType] = {
    "nat": ec2.SubnetType.PRIVATE_WITH_EGRESS,
    "endpoints": ec2.SubnetType.PRIVATE_ISOLATED,
    "public": ec2.SubnetType.PUBLIC,
}
# interface endpoints a Fargate task needs without a NAT gateway (the S3 gateway endpoint is always there)
TASK_ENDPOINTS = {
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}
SECRET_ENDPOINTS = {
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
}


class Network(Construct):
    """Created here, never looked up (a lookup needs credentials at synth)."""

    def __init__(
        self, scope: Construct, id_: str, *, max_azs: int, mode: NetworkMode = "nat", secrets: bool = False
    ) -> None:
        super().__init__(scope, id_)
        task_subnets = TASK_SUBNETS[mode]
        nat_subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=max_azs,
            nat_gateways=1 if mode == "nat" else 0,
            subnet_configuration=[
                *(nat_subnets if mode == "nat" else []),
                ec2.SubnetConfiguration(
                    name="tasks",
                    subnet_type=task_subnets,
                    cidr_mask=20,
                    map_public_ip_on_launch=False if mode == "public" else None,
                ),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="stepml ECS tasks: egress only",
            allow_all_outbound=True,
        )
        self.task_subnets = self.vpc.select_subnets(subnet_type=task_subnets)
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        if mode == "endpoints":
            wanted = {**TASK_ENDPOINTS, **(SECRET_ENDPOINTS if secrets else {})}
            for name, service in wanted.items():  # private DNS on: the SDKs' default endpoints resolve to them
                self.endpoints[name] = self.vpc.add_interface_endpoint(
                    name, service=service, subnets=ec2.SubnetSelection(subnet_type=task_subnets), open=True
                )
