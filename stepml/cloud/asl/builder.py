"""Building blocks of the compiled definition: task states with their retry and catch policies, placeholders.

Resources that exist only once deployed (the artifact bucket, the lock table, the Lambda ARNs, the image, subnets,
task definitions...) appear as ``${Name}`` placeholders, which CloudFormation fills from the state machine's
``DefinitionSubstitutions``.
"""

from __future__ import annotations

from typing import Any

SUBNET_COUNT = 2
CONTAINER_NAME = "step"

# Error names a Catch sees for a missing manifest (getObject's NoSuchKey): AWS spells the service "S3", moto's
# interpreter "s3". Nothing else is a miss: AccessDenied, throttling or a 5xx fail the step (see docs/deploy.md).
MISSING_OBJECT = ("S3.NoSuchKeyException", "s3.NoSuchKeyException")
# What changes between two attempts of one state (its Retry, a redrive of the execution): the context object's
# counters. Job names and UNLOAD locations derive from them, since AWS never lets a second attempt reuse them.
ATTEMPT_COUNTERS = "$$.Execution.RedriveCount, $$.State.RetryCount"
ATTEMPT_TOKEN = f"States.Format('{{}}-{{}}', {ATTEMPT_COUNTERS})"  # "<redrives>-<retries>"
LOCK_TAKEN = ("DynamoDB.ConditionalCheckFailedException",)
TRANSIENT: dict[str, tuple[str, ...]] = {
    "lambda": (
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ),
    "dynamodb": (
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.RequestLimitExceededException",
        "DynamoDB.InternalServerErrorException",
    ),
    "dynamodb-sdk": (  # the AWS SDK integration's names ("DynamoDb"), for calls the optimized one cannot make
        "DynamoDb.ProvisionedThroughputExceededException",
        "DynamoDb.ThrottlingException",
        "DynamoDb.RequestLimitExceededException",
        "DynamoDb.InternalServerErrorException",
    ),
    "s3": ("S3.SlowDownException", "S3.InternalErrorException", "S3.ServiceUnavailableException"),
    "athena": ("Athena.TooManyRequestsException", "Athena.InternalServerException"),
    "redshift": ("RedshiftData.ThrottlingException", "RedshiftData.InternalServerException"),
    "sagemaker": ("SageMaker.ThrottlingException", "SageMaker.AmazonSageMakerException"),
    "ecs": ("ECS.AmazonECSException", "ECS.ServerException"),
    "sfn": ("Sfn.ThrottlingException", "Sfn.InternalServerException"),
    "sns": ("SNS.ThrottledException", "SNS.InternalErrorException"),
}

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
COMMIT_FUNCTION = "CommitFunctionArn"
PLAN_FUNCTION = "PlanFunctionArn"


def placeholder(name: str) -> str:
    return f"${{{name}}}"


def camel(step: str) -> str:
    return "".join(part.capitalize() for part in step.split("_"))


def task_definition_var(step: str) -> str:
    """The placeholder of the ECS task definition ARN of a step that runs as an ECS task."""
    return f"TaskDefinition{camel(step)}"


def per_attempt(path: str) -> str:
    """An intrinsic giving ``<value at path>-<redrives>-<retries>``: a name no earlier attempt of the state used."""
    return f"States.Format('{{}}-{{}}-{{}}', {path}, {ATTEMPT_COUNTERS})"


def retry(*services: str, attempts: int = 4) -> dict[str, Any]:
    """Retry the services' transient errors, with backoff and jitter."""
    return {
        "ErrorEquals": [e for s in services for e in TRANSIENT[s]],
        "IntervalSeconds": 2,
        "BackoffRate": 2.0,
        "MaxAttempts": attempts,
        "MaxDelaySeconds": 60,
        "JitterStrategy": "FULL",
    }


def step_retry(retries: int) -> list[dict[str, Any]]:
    """The spec's ``resources.retries``: retry a failed native task, with backoff and jitter."""
    if retries <= 0:
        return []
    return [
        {
            "ErrorEquals": ["States.TaskFailed"],
            "IntervalSeconds": 30,
            "BackoffRate": 2.0,
            "MaxAttempts": retries,
            "MaxDelaySeconds": 600,
            "JitterStrategy": "FULL",
        }
    ]


def task(
    resource: str,
    parameters: dict[str, Any],
    *,
    next_: str,
    services: tuple[str, ...],
    catch_to: str,
    result_path: str | None = None,
    result_selector: dict[str, Any] | None = None,
    catches: list[dict[str, Any]] | None = None,
    timeout_s: int | None = None,
    retries: int = 0,
) -> dict[str, Any]:
    """A Task state: transient errors retried, ``retries`` more for a failed job, anything else caught."""
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": parameters}
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    if timeout_s is not None:
        state["TimeoutSeconds"] = timeout_s
    state["Retry"] = [retry(*services), *step_retry(retries)]
    state["Catch"] = [*(catches or []), {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}]
    state["Next"] = next_
    return state


def lambda_task(function_var: str, payload: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return task(
        LAMBDA_INVOKE,
        {"FunctionName": placeholder(function_var), "Payload": payload},
        services=("lambda",),
        **kw,
    )
