"""What the state machine's role may do: exactly the integrations the compiled definition uses.

``*`` resources appear only where AWS offers no resource-level permission (``WILDCARD_ALLOWED`` lists them with
the reason; a test asserts every ``*`` statement is in that list).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from infra.constructs.state_machine import PipelineStateMachine
from stepml.spec import AthenaWarehouse, RedshiftWarehouse

# action -> why its resource must be "*"
WILDCARD_ALLOWED: dict[str, str] = {
    "sagemaker:ListModelPackages": "List actions have no resource-level permissions in SageMaker.",
    "redshift-data:DescribeStatement": "Statement ids are not IAM resources.",
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions (tracing of the state machine).",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions.",
    "xray:GetSamplingRules": "X-Ray has no resource-level permissions.",
    "xray:GetSamplingTargets": "X-Ray has no resource-level permissions.",
    "logs:CreateLogDelivery": "CloudWatch Logs vended-log delivery APIs require '*' (execution logging).",
    "logs:GetLogDelivery": "as above",
    "logs:UpdateLogDelivery": "as above",
    "logs:DeleteLogDelivery": "as above",
    "logs:ListLogDeliveries": "as above",
    "logs:PutResourcePolicy": "as above",
    "logs:DescribeResourcePolicies": "as above",
    "logs:DescribeLogGroups": "as above",
    "ecr:GetAuthorizationToken": "ECR authorization tokens are not scoped to a repository.",
    "states:SendTaskSuccess": "Task tokens are not IAM resources (no resource type; the lock's release wakes its "
    "waiters).",
    "cloudwatch:PutMetricData": "No resource-level permissions; limited by a cloudwatch:namespace condition.",
    "kms:Decrypt": "Only in the SNS topic key's policy, where '*' means the key itself.",
    "kms:GenerateDataKey*": "Only in the SNS topic key's policy, where '*' means the key itself.",
}
_COLON = ArnFormat.COLON_RESOURCE_NAME


@dataclass(frozen=True)
class Integrations:
    bucket: s3.IBucket
    table: dynamodb.ITable
    functions: tuple[lambda_.IFunction, ...]
    topic: sns.ITopic
    sagemaker_role: iam.IRole
    model_package_groups: tuple[str, ...]
    cluster: ecs.ICluster
    task_definitions: tuple[ecs.TaskDefinition, ...]
    processing_roles: tuple[iam.IRole, ...]
    resources: frozenset[str]  # the integrations the definition calls (``stepml.cloud.asl.Compiled.resources``)
    athena: AthenaWarehouse | None
    athena_workgroup: str | None
    redshift: RedshiftWarehouse | None
    warehouse_bucket_arns: tuple[str, ...]


_STATES = "arn:aws:states:::"
_SAGEMAKER_RULES = {
    "training-job": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "processing-job": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
}


def _events_rule(machine: PipelineStateMachine, stack: Stack, rule: str) -> None:
    """A ``.sync`` integration watches its job through an EventBridge rule Step Functions manages."""
    machine.allow(
        ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
        [stack.format_arn(service="events", resource="rule", resource_name=rule)],
    )


def _sagemaker_sync(
    machine: PipelineStateMachine, stack: Stack, resource: str, create: str, describe: str, stop: str
) -> None:
    machine.allow(
        [f"sagemaker:{create}", f"sagemaker:{describe}", f"sagemaker:{stop}", "sagemaker:AddTags"],
        [stack.format_arn(service="sagemaker", resource=resource, resource_name="*")],
    )
    _events_rule(machine, stack, _SAGEMAKER_RULES[resource])


def grant_integrations(machine: PipelineStateMachine, name: str, it: Integrations) -> None:
    stack = Stack.of(machine)
    allow = machine.allow
    it.bucket.grant_read_write(machine.role)  # manifests, Athena UNLOAD output, Map ItemReader listing
    # the lock: taken and waited on by UpdateItem (a waiter writes its task token into the item), read, released
    it.table.grant(machine.role, "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem")
    for fn in it.functions:
        fn.grant_invoke(machine.role)
    it.topic.grant_publish(machine.role)
    executions = stack.format_arn(service="states", resource="execution", resource_name=f"{name}:*", arn_format=_COLON)
    map_runs = stack.format_arn(service="states", resource="execution", resource_name=f"{name}/*", arn_format=_COLON)
    own = stack.format_arn(service="states", resource="stateMachine", resource_name=name, arn_format=_COLON)
    allow(["states:DescribeExecution"], [executions, map_runs])  # lock holder liveness, map children
    allow(["states:StartExecution"], [own])  # the Distributed Map starts child workflow executions
    allow(["states:StopExecution"], [map_runs])
    uses = it.resources
    if f"{_STATES}aws-sdk:sfn:sendTaskSuccess" in uses:  # a released lock wakes the runs waiting for it
        allow(["states:SendTaskSuccess"], ["*"])
    if f"{_STATES}sagemaker:createTrainingJob.sync" in uses:  # SageMaker training (.sync)
        _sagemaker_sync(machine, stack, "training-job", "CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")
        allow(
            ["iam:PassRole"],
            [it.sagemaker_role.role_arn],
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    if f"{_STATES}sagemaker:createProcessingJob.sync" in uses:  # SageMaker Processing (.sync)
        _sagemaker_sync(
            machine, stack, "processing-job", "CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob"
        )
        allow(
            ["iam:PassRole"],
            [r.role_arn for r in it.processing_roles],
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    if any(r.startswith(f"{_STATES}aws-sdk:sagemaker:") for r in uses):  # the model registry
        allow(
            ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
            [
                arn
                for group in it.model_package_groups
                for arn in (
                    stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group),
                    stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/*"),
                )
            ],
        )
        allow(["sagemaker:ListModelPackages"], ["*"])
    if f"{_STATES}ecs:runTask.sync" in uses:  # ECS (.sync)
        for task in it.task_definitions:
            task.grant_run(machine.role)  # ecs:RunTask on the family + iam:PassRole on its roles
        tasks = stack.format_arn(service="ecs", resource="task", resource_name=f"{it.cluster.cluster_name}/*")
        allow(["ecs:StopTask", "ecs:DescribeTasks"], [tasks])
        # RunTask with PropagateTags tags the task it starts: the caller needs ecs:TagResource on it
        allow(["ecs:TagResource"], [tasks], {"StringEquals": {"ecs:CreateAction": "RunTask"}})
        _events_rule(machine, stack, "StepFunctionsGetEventsForECSTaskRule")
    # the warehouse
    if it.athena is not None and it.athena_workgroup is not None:
        allow(
            [
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:StopQueryExecution",
                "athena:GetWorkGroup",
            ],
            [stack.format_arn(service="athena", resource="workgroup", resource_name=it.athena_workgroup)],
        )
        db = it.athena.database
        allow(
            ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"],
            [
                stack.format_arn(service="glue", resource="catalog"),
                stack.format_arn(service="glue", resource="database", resource_name=db),
                stack.format_arn(service="glue", resource="table", resource_name=f"{db}/*"),
            ],
        )
        if it.warehouse_bucket_arns:
            allow(
                ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                [*it.warehouse_bucket_arns, *(f"{a}/*" for a in it.warehouse_bucket_arns)],
            )
    if it.redshift is not None:
        target = (
            stack.format_arn(
                service="redshift", resource="cluster", resource_name=it.redshift.cluster_identifier, arn_format=_COLON
            )
            if it.redshift.cluster_identifier
            else stack.format_arn(service="redshift-serverless", resource="workgroup", resource_name="*")
        )
        allow(["redshift-data:ExecuteStatement"], [target])
        allow(["redshift-data:DescribeStatement"], ["*"])
        # and one way to authenticate (the Redshift Data API's IAM page): the secret, or the caller's IAM identity
        if it.redshift.secret_arn:
            allow(["secretsmanager:GetSecretValue"], [it.redshift.secret_arn])
        elif it.redshift.cluster_identifier:
            dbname = f"{it.redshift.cluster_identifier}/{it.redshift.database}"
            allow(
                ["redshift:GetClusterCredentialsWithIAM"],
                [stack.format_arn(service="redshift", resource="dbname", resource_name=dbname, arn_format=_COLON)],
            )
        else:
            allow(["redshift-serverless:GetCredentials"], [target])
