"""The pipeline spec compiled to an Amazon States Language definition: one pure function, printable offline.

:func:`compile_definition` returns the state machine as a plain dict. Resources that exist only once deployed
(the artifact bucket, the lock table, the Lambda ARNs, the image, subnets...) appear as ``${Name}`` placeholders,
which CloudFormation fills from the state machine's ``DefinitionSubstitutions``; :func:`substitution_names` lists
them and :func:`resolve` fills them for printing or validation. No AWS call, no file written.

Shape (JSONPath), steps in the plan's dependency order::

    Plan (Lambda: stepml.plan.make_plan -> keys, prefixes, lock ids, rendered SQL)
    per step <s>:
      <s>: cache check      aws-sdk:s3:getObject <pipeline>/steps/<s>/<key>/_manifest.json
      <s>: cache valid?     Choice (schema, key) -> <s>: cached (Pass) | <s>: lock
      <s>: lock             dynamodb:putItem, condition: free, ours, or lease expired
         contention ->      <s>: lock holder (getItem) -> holder running? (sfn:describeExecution)
                            -> <s>: wait for lock (Wait) -> <s>: cache check    | -> <s>: break lock (deleteItem)
      <s>: recheck          the manifest again, under the lock (another run may have committed meanwhile)
      <s>: <native task>    extract: Athena startQueryExecution.sync (UNLOAD) | Redshift Data API + poll
                            train:   SageMaker createTrainingJob.sync (the pipeline image, SageMaker contract)
                            gate:    Choice on the metric, model package group, champion comparison
                            score:   partition Lambda (files -> partitions JSON) -> Distributed Map -> ECS runTask.sync
                            check:   ECS runTask.sync
      <s>: commit           Lambda: the manifest (stepml/manifest.py schema), written last
      <s>: release lock     dynamodb:deleteItem (condition: ours)
    any failure -> <s>: release lock (failed) -> Notify failure (sns:publish) -> Failed (Fail)

Payloads stay small: states carry keys, prefixes and summaries; data stays in S3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepml.plan import PlanInput, _order, plan_input
from stepml.stepconfig import check_config, train_hyperparameters

if TYPE_CHECKING:
    from stepml.spec import Pipeline

MANIFEST_SCHEMA = "stepml.manifest/1"
LOCK_WAIT_SECONDS = 30
POLL_SECONDS = 15
SUBNET_COUNT = 2
CONTAINER_NAME = "step"

# Error names a Catch sees for a missing manifest: AWS spells the service "S3", moto's interpreter "s3";
# headObject has no NoSuchKey and reports a generic S3Exception (see docs/deploy.md).
MISSING_OBJECT = ("S3.NoSuchKeyException", "s3.NoSuchKeyException", "S3.S3Exception", "s3.s3Exception")
LOCK_TAKEN = ("DynamoDB.ConditionalCheckFailedException",)
_TRANSIENT: dict[str, tuple[str, ...]] = {
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
    "s3": ("S3.SlowDownException", "S3.InternalErrorException", "S3.ServiceUnavailableException"),
    "athena": ("Athena.TooManyRequestsException", "Athena.InternalServerException"),
    "redshift": ("RedshiftData.ThrottlingException", "RedshiftData.InternalServerException"),
    "sagemaker": ("SageMaker.ThrottlingException", "SageMaker.AmazonSageMakerException"),
    "ecs": ("ECS.AmazonECSException", "ECS.ServerException"),
    "sfn": ("Sfn.ThrottlingException", "Sfn.InternalServerException"),
    "sns": ("SNS.ThrottledException", "SNS.InternalErrorException"),
}

# Placeholders filled by CloudFormation (DefinitionSubstitutions); step-specific ones via _camel(step).
BASE_SUBSTITUTIONS = (
    "ArtifactBucket",
    "LockTable",
    "PlanFunctionArn",
    "CommitFunctionArn",
    "TopicArn",
    "ImageUri",
    "SageMakerRoleArn",
    "ModelPackageGroup",
    "ClusterArn",
    "SecurityGroupId",
    *(f"Subnet{i}" for i in range(SUBNET_COUNT)),
)


def _camel(step: str) -> str:
    return "".join(part.capitalize() for part in step.split("_"))


def task_definition_var(step: str) -> str:
    """The placeholder of the ECS task definition ARN of a score or check step."""
    return f"TaskDefinition{_camel(step)}"


def substitution_names(pipeline: Pipeline) -> list[str]:
    """Every ``${Name}`` the definition of ``pipeline`` uses."""
    spec = pipeline.spec
    names = list(BASE_SUBSTITUTIONS)
    names += [task_definition_var(n) for n, s in spec.steps.items() if s.type in ("score", "check")]
    if any(s.type == "extract" for s in spec.steps.values()):
        names += ["AthenaWorkGroup"] if spec.warehouse.engine == "athena" else ["RedshiftTarget"]
    return names


def _retry(*services: str, attempts: int = 4) -> dict[str, Any]:
    errors = [e for s in services for e in _TRANSIENT[s]]
    return {
        "ErrorEquals": errors,
        "IntervalSeconds": 2,
        "BackoffRate": 2.0,
        "MaxAttempts": attempts,
        "MaxDelaySeconds": 60,
        "JitterStrategy": "FULL",
    }


def _step_retry(retries: int) -> list[dict[str, Any]]:
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


class _Compiler:
    def __init__(self, pipeline: Pipeline, pinput: PlanInput) -> None:
        self.pipeline = pipeline
        self.spec = pipeline.spec
        self.pinput = pinput
        self.states: dict[str, dict[str, Any]] = {}
        self.types = {s.name: s.type for s in pinput.steps}

    # ------------------------------------------------------------------ helpers
    def upstream(self, step: str, type_: str) -> str:
        for dep in self.spec.steps[step].needs:
            if self.types[dep] == type_:
                return dep
        raise ValueError(f"step {step!r} has no {type_} upstream")

    @staticmethod
    def plan_path(step: str, field: str) -> str:
        return f"$.plan.steps.{step}.{field}"

    def task(
        self,
        name: str,
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
    ) -> None:
        state: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": parameters}
        if result_selector is not None:
            state["ResultSelector"] = result_selector
        state["ResultPath"] = result_path
        if timeout_s is not None:
            state["TimeoutSeconds"] = timeout_s
        state["Retry"] = [_retry(*services), *_step_retry(retries)]
        state["Catch"] = [*(catches or []), {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}]
        state["Next"] = next_
        self.states[name] = state

    def lambda_task(self, name: str, function_var: str, payload: dict[str, Any], **kw: Any) -> None:
        self.task(
            name,
            "arn:aws:states:::lambda:invoke",
            {"FunctionName": f"${{{function_var}}}", "Payload": payload},
            services=("lambda",),
            **kw,
        )

    # ------------------------------------------------------------------ the whole machine
    def compile(self) -> dict[str, Any]:
        order = [s.name for s in _order(self.pinput.steps)]
        self.lambda_task(
            "Plan",
            "PlanFunctionArn",
            {
                "params.$": "$.params",
                "execution_id.$": "$$.Execution.Id",
                "execution_name.$": "$$.Execution.Name",
                "started_at.$": "$$.Execution.StartTime",
            },
            result_selector={"Payload.$": "$.Payload"},
            result_path="$.plan",
            next_="Plan: unwrap",
            catch_to="Notify failure",
        )
        self.states["Plan: unwrap"] = {
            "Type": "Pass",
            "InputPath": "$.plan.Payload",
            "ResultPath": "$.plan",
            "Next": "Plan: results",
        }
        self.states["Plan: results"] = {
            "Type": "Pass",
            "Result": {},
            "ResultPath": "$.results",
            "Next": f"{order[0]}: cache check",
        }
        for i, step in enumerate(order):
            after = f"{order[i + 1]}: cache check" if i + 1 < len(order) else "Succeeded"
            self.step(step, after)
        self.states["Notify failure"] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${TopicArn}",
                "Subject": f"stepml {self.spec.name}: run failed",
                "Message.$": "States.JsonToString($.error)",
            },
            "ResultPath": None,
            "Retry": [_retry("sns")],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Failed"}],
            "Next": "Failed",
        }
        self.states["Failed"] = {
            "Type": "Fail",
            "Error": "stepml.RunFailed",
            "Cause": "A step failed; the notification and the execution history name it and its error.",
        }
        self.states["Succeeded"] = {"Type": "Succeed"}
        return {
            "Comment": f"stepml pipeline {self.spec.name}: compiled from the spec by stepml.cloud.asl",
            "StartAt": "Plan",
            "TimeoutSeconds": _timeout(self.pipeline),
            "States": self.states,
        }

    # ------------------------------------------------------------------ one step: cache, lock, task, commit
    def step(self, step: str, after: str) -> None:
        manifest = {"Bucket": "${ArtifactBucket}", "Key.$": self.plan_path(step, "manifest_key")}
        release_failed = f"{step}: release lock (failed)"
        lock_key = {"lock_id": {"S.$": self.plan_path(step, "lock_id")}}
        for check, valid, miss in (
            (f"{step}: cache check", f"{step}: cache valid?", f"{step}: lock"),
            (f"{step}: recheck", f"{step}: recheck valid?", None),
        ):
            self.task(
                check,
                "arn:aws:states:::aws-sdk:s3:getObject",
                manifest,
                result_selector={"manifest.$": "States.StringToJson($.Body)"},
                result_path="$.cache",
                next_=valid,
                services=("s3",),
                catches=[
                    {"ErrorEquals": list(MISSING_OBJECT), "ResultPath": None, "Next": miss or self.first_task(step)}
                ],
                catch_to="Notify failure" if miss else release_failed,
            )
        hit = {
            "And": [
                {"Variable": "$.cache.manifest.schema", "StringEquals": MANIFEST_SCHEMA},
                {"Variable": "$.cache.manifest.key", "StringEqualsPath": self.plan_path(step, "key")},
            ]
        }
        self.states[f"{step}: cache valid?"] = {
            "Type": "Choice",
            "Choices": [{**hit, "Next": f"{step}: cached"}],
            "Default": f"{step}: lock",
        }
        self.states[f"{step}: recheck valid?"] = {
            "Type": "Choice",
            "Choices": [{**hit, "Next": f"{step}: release lock (cached)"}],
            "Default": self.first_task(step),
        }
        self.states[f"{step}: cached"] = {
            "Type": "Pass",
            "Parameters": {
                "status": "cached",
                "key.$": "$.cache.manifest.key",
                "prefix.$": "$.cache.manifest.prefix",
                "summary.$": "$.cache.manifest.summary",
                "run_id.$": "$.cache.manifest.run_id",
            },
            "ResultPath": f"$.results.{step}",
            "Next": after,
        }
        self._lock(step, lock_key)
        release = {
            "TableName": "${LockTable}",
            "Key": lock_key,
            "ConditionExpression": "#owner = :me",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": {"S.$": "$$.Execution.Id"}},
        }
        for name, next_, on_error in (
            (f"{step}: release lock (cached)", f"{step}: cached", "Notify failure"),
            (f"{step}: release lock", after, "Notify failure"),
            (release_failed, "Notify failure", "Notify failure"),
        ):
            self.task(
                name,
                "arn:aws:states:::dynamodb:deleteItem",
                release,
                next_=next_,
                services=("dynamodb",),
                catches=[{"ErrorEquals": list(LOCK_TAKEN), "ResultPath": None, "Next": next_}],
                catch_to=on_error,
            )
            if name == release_failed:  # keep the step's error for the notification
                self.states[name]["Catch"][-1]["ResultPath"] = None
        getattr(self, f"_native_{self.types[step]}")(step, release_failed)
        self.lambda_task(
            f"{step}: commit",
            "CommitFunctionArn",
            {
                "action": "commit",
                "step": step,
                "plan.$": "$.plan",
                "task.$": "$.task",
                "results.$": "$.results",
            },
            result_selector={
                "status": "ran",
                "key.$": "$.Payload.key",
                "prefix.$": "$.Payload.prefix",
                "summary.$": "$.Payload.summary",
                "run_id.$": "$.Payload.run_id",
            },
            result_path=f"$.results.{step}",
            next_=f"{step}: release lock",
            catch_to=release_failed,
        )

    def first_task(self, step: str) -> str:
        return f"{step}: {_FIRST[self.types[step]]}"

    def _lock(self, step: str, lock_key: dict[str, Any]) -> None:
        table = "${LockTable}"
        self.task(
            f"{step}: lock",
            "arn:aws:states:::dynamodb:putItem",
            {
                "TableName": table,
                "Item": {
                    **lock_key,
                    "owner": {"S.$": "$$.Execution.Id"},
                    "step": {"S": step},
                    "key": {"S.$": self.plan_path(step, "key")},
                    "acquired_at": {"S.$": "$$.State.EnteredTime"},
                    "expires_at": {"N.$": "$.plan.lock_expires_at"},
                },
                "ConditionExpression": "attribute_not_exists(lock_id) OR #owner = :me OR expires_at < :now",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":me": {"S.$": "$$.Execution.Id"}, ":now": {"N.$": "$.plan.now"}},
            },
            next_=f"{step}: recheck",
            services=("dynamodb",),
            catches=[{"ErrorEquals": list(LOCK_TAKEN), "ResultPath": None, "Next": f"{step}: lock holder"}],
            catch_to="Notify failure",
        )
        self.task(
            f"{step}: lock holder",
            "arn:aws:states:::dynamodb:getItem",
            {"TableName": table, "Key": lock_key, "ConsistentRead": True},
            result_path="$.holder",
            next_=f"{step}: still held?",
            services=("dynamodb",),
            catch_to="Notify failure",
        )
        self.states[f"{step}: still held?"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.holder.Item.owner.S", "IsPresent": True, "Next": f"{step}: holder running?"}],
            "Default": f"{step}: lock",
        }
        self.task(
            f"{step}: holder running?",
            "arn:aws:states:::aws-sdk:sfn:describeExecution",
            {"ExecutionArn.$": "$.holder.Item.owner.S"},
            result_selector={"status.$": "$.Status"},
            result_path="$.holder_status",
            next_=f"{step}: holder alive?",
            services=("sfn",),
            catches=[
                {
                    "ErrorEquals": ["Sfn.ExecutionDoesNotExistException", "Sfn.InvalidArnException"],
                    "ResultPath": None,
                    "Next": f"{step}: break lock",
                }
            ],
            catch_to=f"{step}: wait for lock",
        )
        self.states[f"{step}: holder running?"]["Catch"][-1]["ResultPath"] = None
        self.states[f"{step}: holder alive?"] = {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.holder_status.status", "StringEquals": "RUNNING", "Next": f"{step}: wait for lock"}
            ],
            "Default": f"{step}: break lock",
        }
        self.states[f"{step}: wait for lock"] = {
            "Type": "Wait",
            "Seconds": LOCK_WAIT_SECONDS,
            "Next": f"{step}: cache check",
        }
        self.task(
            f"{step}: break lock",
            "arn:aws:states:::dynamodb:deleteItem",
            {
                "TableName": table,
                "Key": lock_key,
                "ConditionExpression": "#owner = :holder",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":holder": {"S.$": "$.holder.Item.owner.S"}},
            },
            next_=f"{step}: lock",
            services=("dynamodb",),
            catches=[{"ErrorEquals": list(LOCK_TAKEN), "ResultPath": None, "Next": f"{step}: lock"}],
            catch_to="Notify failure",
        )

    # ------------------------------------------------------------------ native tasks
    def _native_extract(self, step: str, on_error: str) -> None:
        spec = self.spec
        resources = spec.steps[step].resources
        commit = f"{step}: commit"
        if spec.warehouse.engine == "athena":
            athena = spec.warehouse.athena
            context = {"Database": athena.database, "Catalog": athena.catalog} if athena else {}
            self.task(
                f"{step}: query",
                "arn:aws:states:::athena:startQueryExecution.sync",
                {
                    "QueryString.$": self.plan_path(step, "sql"),
                    "WorkGroup": "${AthenaWorkGroup}",
                    "QueryExecutionContext": context,
                },
                result_selector={"query_id.$": "$.QueryExecution.QueryExecutionId"},
                result_path="$.task",
                next_=commit,
                services=("athena",),
                catch_to=on_error,
                timeout_s=resources.timeout_minutes * 60,
                retries=resources.retries,
            )
            return
        redshift = spec.warehouse.redshift
        target: dict[str, Any] = {"Database": redshift.database if redshift else "dev"}
        if redshift and redshift.cluster_identifier:
            target["ClusterIdentifier"] = "${RedshiftTarget}"
        else:
            target["WorkgroupName"] = "${RedshiftTarget}"
        if redshift and redshift.secret_arn:
            target["SecretArn"] = redshift.secret_arn
        self.task(
            f"{step}: query",
            "arn:aws:states:::aws-sdk:redshiftdata:executeStatement",
            {**target, "Sql.$": self.plan_path(step, "sql")},
            result_selector={"query_id.$": "$.Id"},
            result_path="$.task",
            next_=f"{step}: wait for query",
            services=("redshift",),
            catch_to=on_error,
            retries=resources.retries,
        )
        self.states[f"{step}: wait for query"] = {
            "Type": "Wait",
            "Seconds": POLL_SECONDS,
            "Next": f"{step}: query status",
        }
        self.task(
            f"{step}: query status",
            "arn:aws:states:::aws-sdk:redshiftdata:describeStatement",
            {"Id.$": "$.task.query_id"},
            result_selector={"status.$": "$.Status"},
            result_path="$.query",
            next_=f"{step}: query done?",
            services=("redshift",),
            catch_to=on_error,
        )
        self.states[f"{step}: query done?"] = {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.query.status", "StringEquals": "FINISHED", "Next": commit},
                {
                    "Or": [
                        {"Variable": "$.query.status", "StringEquals": "FAILED"},
                        {"Variable": "$.query.status", "StringEquals": "ABORTED"},
                    ],
                    "Next": f"{step}: query failed",
                },
            ],
            "Default": f"{step}: wait for query",
        }
        self.states[f"{step}: query failed"] = {
            "Type": "Pass",
            "Parameters": {"Error": "QueryError", "Cause.$": "States.Format('{} {}', $.task.query_id, $.query.status)"},
            "ResultPath": "$.error",
            "Next": on_error,
        }

    def _native_train(self, step: str, on_error: str) -> None:
        source = self.upstream(step, "extract")
        resources = self.spec.steps[step].resources
        self.task(
            f"{step}: train",
            "arn:aws:states:::sagemaker:createTrainingJob.sync",
            {
                "TrainingJobName.$": self.plan_path(step, "job_name"),
                "RoleArn": "${SageMakerRoleArn}",
                "AlgorithmSpecification": {
                    "TrainingImage": "${ImageUri}",
                    "TrainingInputMode": "File",
                    "ContainerEntrypoint": ["python", "-m", "steps.train"],
                },
                "HyperParameters": train_hyperparameters(self.spec, step),
                "InputDataConfig": [
                    {
                        "ChannelName": "train",
                        "ContentType": "application/x-parquet",
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3Uri.$": f"States.Format('s3://${{ArtifactBucket}}/{{}}/data/', $.results.{source}.prefix)",
                                "S3DataDistributionType": "FullyReplicated",
                            }
                        },
                    }
                ],
                "OutputDataConfig": {"S3OutputPath.$": self.plan_path(step, "uri")},
                "ResourceConfig": {
                    "InstanceType": resources.instance_type or "ml.m5.xlarge",
                    "InstanceCount": resources.instance_count,
                    "VolumeSizeInGB": resources.volume_gb,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": resources.timeout_minutes * 60},
            },
            result_selector={
                "job_name.$": "$.TrainingJobName",
                "model_uri.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            result_path="$.task",
            next_=f"{step}: commit",
            services=("sagemaker",),
            catch_to=on_error,
            timeout_s=resources.timeout_minutes * 60 + 900,
            retries=resources.retries,
        )

    def _native_gate(self, step: str, on_error: str) -> None:
        from stepml.spec import GateStep

        gate = self.spec.steps[step]
        assert isinstance(gate, GateStep)
        train = self.upstream(step, "train")
        value = f"$.results.{train}.summary.value"
        model = self.spec.model
        self.task(
            f"{step}: register candidate",
            "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
            {
                "ModelPackageGroupName": "${ModelPackageGroup}",
                "ModelPackageDescription.$": f"States.Format('{self.spec.name} {train} key {{}}', $.results.{train}.key)",
                "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification": {
                    "Containers": [{"Image": "${ImageUri}", "ModelDataUrl.$": f"$.results.{train}.summary.model_uri"}],
                    "SupportedContentTypes": ["application/x-parquet"],
                    "SupportedResponseMIMETypes": ["application/x-parquet"],
                },
                "CustomerMetadataProperties": {
                    "pipeline": self.spec.name,
                    "metric": model.metric,
                    "value.$": f"States.Format('{{}}', {value})",
                    "train_key.$": f"$.results.{train}.key",
                },
            },
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.gate.candidate",
            next_=f"{step}: find champion",
            services=("sagemaker",),
            catch_to=on_error,
        )
        self.task(
            f"{step}: find champion",
            "arn:aws:states:::aws-sdk:sagemaker:listModelPackages",
            {
                "ModelPackageGroupName": "${ModelPackageGroup}",
                "ModelApprovalStatus": "Approved",
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "MaxResults": 1,
            },
            result_selector={"packages.$": "$.ModelPackageSummaryList"},
            result_path="$.gate.found",
            next_=f"{step}: has champion?",
            services=("sagemaker",),
            catch_to=on_error,
        )
        self.states[f"{step}: has champion?"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.gate.found.packages[0]", "IsPresent": True, "Next": f"{step}: read champion"}],
            "Default": f"{step}: no champion",
        }
        self.states[f"{step}: no champion"] = {
            "Type": "Pass",
            "Result": {"present": False},
            "ResultPath": "$.gate.champion",
            "Next": f"{step}: compare",
        }
        self.task(
            f"{step}: read champion",
            "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage",
            {"ModelPackageName.$": "$.gate.found.packages[0].ModelPackageArn"},
            result_selector={
                "present": True,
                "arn.$": "$.ModelPackageArn",
                "metadata.$": "$.CustomerMetadataProperties",
                "model_uri.$": "$.InferenceSpecification.Containers[0].ModelDataUrl",
            },
            result_path="$.gate.champion",
            next_=f"{step}: compare",
            services=("sagemaker",),
            catch_to=on_error,
        )
        self.lambda_task(
            f"{step}: compare",
            "CommitFunctionArn",
            {"action": "decide", "step": step, "candidate.$": f"$.results.{train}", "champion.$": "$.gate.champion"},
            result_selector={"passed.$": "$.Payload.passed", "reasons.$": "$.Payload.reasons"},
            result_path="$.gate.decision",
            next_=f"{step}: promote?",
            catch_to=on_error,
        )
        passes: list[dict[str, Any]] = [{"Variable": "$.gate.decision.passed", "BooleanEquals": True}]
        if gate.min_value is not None:
            op = "NumericGreaterThanEquals" if model.higher_is_better else "NumericLessThanEquals"
            passes.insert(0, {"Variable": value, op: gate.min_value})
        self.states[f"{step}: promote?"] = {
            "Type": "Choice",
            "Choices": [{"And": passes, "Next": f"{step}: approve"}],
            "Default": f"{step}: keep champion?",
        }
        self.states[f"{step}: keep champion?"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.gate.champion.present", "BooleanEquals": True, "Next": f"{step}: record"}],
            "Default": f"{step}: rejected",
        }
        self.states[f"{step}: rejected"] = {
            "Type": "Pass",
            "Parameters": {
                "Error": "GateError",
                "Cause.$": "States.Format('step gate: {}; there is no champion to fall back to', "
                "States.JsonToString($.gate.decision.reasons))",
            },
            "ResultPath": "$.error",
            "Next": on_error,
        }
        self.task(
            f"{step}: approve",
            "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage",
            {"ModelPackageArn.$": "$.gate.candidate.arn", "ModelApprovalStatus": "Approved"},
            result_path=None,
            next_=f"{step}: record",
            services=("sagemaker",),
            catch_to=on_error,
        )
        self.states[f"{step}: record"] = {  # what the commit writes: candidate, champion, decision
            "Type": "Pass",
            "InputPath": "$.gate",
            "ResultPath": "$.task",
            "Next": f"{step}: commit",
        }

    def _ecs_task(self, step: str, environment: list[dict[str, Any]], *, on_error: str, next_: str) -> dict[str, Any]:
        resources = self.spec.steps[step].resources
        self.task(
            f"{step}: run task",
            "arn:aws:states:::ecs:runTask.sync",
            {
                "Cluster": "${ClusterArn}",
                "TaskDefinition": f"${{{task_definition_var(step)}}}",
                "LaunchType": "FARGATE",
                "PropagateTags": "TASK_DEFINITION",
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": [f"${{Subnet{i}}}" for i in range(SUBNET_COUNT)],
                        "SecurityGroups": ["${SecurityGroupId}"],
                        "AssignPublicIp": "DISABLED",
                    }
                },
                "Overrides": {
                    "ContainerOverrides": [
                        {
                            "Name": CONTAINER_NAME,
                            "Command": ["python", "-m", "stepml.cloud.task", self.types[step]],
                            "Environment": [{"Name": "STEPML_STEP", "Value": step}, *environment],
                        }
                    ]
                },
            },
            result_selector={"task_arn.$": "$.TaskArn"},
            result_path="$.task",
            next_=next_,
            services=("ecs",),
            catch_to=on_error,
            timeout_s=resources.timeout_minutes * 60,
            retries=resources.retries,
        )
        return self.states.pop(f"{step}: run task")

    def _serving_model(self, score_step: str) -> tuple[str, str, str]:
        """JSONPaths of the model ``score_step`` scores with (the gate's choice, or the train step's model):
        its ``model.tar.gz`` URI, its version label and its validation metric (both strings: ECS environment
        values must be)."""
        needs = self.spec.steps[score_step].needs
        model_from = next((d for d in needs if self.types[d] in ("gate", "train")), None)
        assert model_from is not None
        if self.types[model_from] == "gate":
            model = f"$.results.{model_from}.summary.model"
            return f"{model}.uri", f"States.Format('v{{}}', {model}.version)", f"States.Format('{{}}', {model}.value)"
        summary = f"$.results.{model_from}.summary"
        return f"{summary}.model_uri", f"$.results.{model_from}.key", f"States.Format('{{}}', {summary}.value)"

    def _native_score(self, step: str, on_error: str) -> None:
        from stepml.spec import ScoreStep

        score = self.spec.steps[step]
        assert isinstance(score, ScoreStep)
        source = self.upstream(step, "extract")
        model_uri, model_version, _ = self._serving_model(step)
        self.lambda_task(
            f"{step}: partition",
            "CommitFunctionArn",
            {
                "action": "partition",
                "step": step,
                "source_prefix.$": f"$.results.{source}.prefix",
                "attempt.$": self.plan_path(step, "attempt"),
            },
            result_selector={"key.$": "$.Payload.key", "count.$": "$.Payload.count"},
            result_path="$.partition",
            next_=f"{step}: map",
            catch_to=on_error,
        )
        task = self._ecs_task(
            step,
            [
                {"Name": "STEPML_ITEMS", "Value.$": "States.JsonToString($.items)"},
                {"Name": "STEPML_MODEL_URI", "Value.$": "$.model_uri"},
                {"Name": "STEPML_MODEL_VERSION", "Value.$": "$.model_version"},
                {"Name": "STEPML_OUTPUT_URI", "Value.$": "$.output_uri"},
                {"Name": "STEPML_RUN_ID", "Value.$": "$.run_id"},
                {"Name": "STEPML_BATCH_ROWS", "Value": str(score.batch_rows)},
                {"Name": "STEPML_THREADS", "Value": str(score.resources.threads)},
            ],
            on_error=on_error,
            next_="unused",
        )
        task.pop("Catch")  # a failed partition fails the map; the map's Catch releases the lock
        task["ResultPath"] = None
        task.pop("Next")
        task["End"] = True
        # One map item per partition, read from the partition Lambda's JSON (the local runner's assignment of
        # files to partitions); a failed item fails the map (the default tolerated failure is 0).
        self.states[f"{step}: map"] = {
            "Type": "Map",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket": "${ArtifactBucket}", "Key.$": "$.partition.key"},
            },
            "ItemSelector": {
                "items.$": "$$.Map.Item.Value.items",
                "model_uri.$": model_uri,
                "model_version.$": model_version,
                "output_uri.$": self.plan_path(step, "uri"),
                "run_id.$": "$.plan.run_id",
            },
            "MaxConcurrency": score.max_concurrency,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": f"{step}: run task",
                "States": {f"{step}: run task": task},
            },
            "ResultSelector": {"partitions.$": "States.ArrayLength($)"},
            "ResultPath": "$.task",
            "Retry": [_retry("s3")],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": on_error}],
            "Next": f"{step}: commit",
        }

    def _native_check(self, step: str, on_error: str) -> None:
        """As the local runner: the features (extract, else the predictions), and when both an extract and a score
        step feed it, the predictions and the serving model (its profile.json is the drift reference)."""
        needs = self.spec.steps[step].needs
        extract = next((d for d in needs if self.types[d] == "extract"), None)
        score = next((d for d in needs if self.types[d] == "score"), None)
        source = extract or score
        assert source is not None

        def data_uri(of: str) -> str:
            return f"States.Format('s3://${{ArtifactBucket}}/{{}}/data/', $.results.{of}.prefix)"

        environment: list[dict[str, Any]] = [
            {"Name": "STEPML_INPUT_URI", "Value.$": data_uri(source)},
            {"Name": "STEPML_CONFIG", "Value": json.dumps(check_config(self.spec, step), sort_keys=True)},
            {"Name": "STEPML_OUTPUT_URI", "Value.$": self.plan_path(step, "uri")},
            {"Name": "STEPML_PIPELINE", "Value": self.spec.name},
            {"Name": "STEPML_RUN_ID", "Value.$": "$.plan.run_id"},
        ]
        if extract is not None and score is not None:
            model_uri, _, metric = self._serving_model(score)
            environment += [
                {"Name": "STEPML_PREDICTIONS_URI", "Value.$": data_uri(score)},
                {"Name": "STEPML_MODEL_URI", "Value.$": model_uri},
                {"Name": "STEPML_VALIDATION_METRIC", "Value.$": metric},
            ]
        self.states[f"{step}: run task"] = self._ecs_task(step, environment, on_error=on_error, next_=f"{step}: commit")


_FIRST = {"extract": "query", "train": "train", "gate": "register candidate", "score": "partition", "check": "run task"}


def _timeout(pipeline: Pipeline) -> int:
    from stepml.cloud.bundle import state_machine_timeout

    return state_machine_timeout(pipeline)


def compile_definition(pipeline: Pipeline, pinput: PlanInput | None = None) -> dict[str, Any]:
    """The state machine of ``pipeline`` as an ASL dict with ``${Name}`` placeholders (see module docstring)."""
    return _Compiler(pipeline, pinput or plan_input(pipeline)).compile()


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def resolve(definition: Mapping[str, Any], values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``definition`` with every ``${Name}`` replaced by ``values[Name]`` (or a readable stand-in)."""
    text = json.dumps(definition)
    filled = _PLACEHOLDER.sub(lambda m: (values or {}).get(m.group(1), _example(m.group(1))), text)
    result: dict[str, Any] = json.loads(filled)
    return result


def _example(name: str) -> str:
    """A syntactically valid stand-in for a placeholder (for printing and validating offline)."""
    account, region = "123456789012", "us-east-1"
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:{region}:{account}:function:stepml-{name.removesuffix('FunctionArn').lower()}"
    if name == "TopicArn":
        return f"arn:aws:sns:{region}:{account}:stepml-notifications"
    if name == "SageMakerRoleArn":
        return f"arn:aws:iam::{account}:role/stepml-sagemaker"
    if name == "ClusterArn":
        return f"arn:aws:ecs:{region}:{account}:cluster/stepml"
    if name.startswith("TaskDefinition"):
        return f"arn:aws:ecs:{region}:{account}:task-definition/stepml-{name.removeprefix('TaskDefinition').lower()}:1"
    if name == "ImageUri":
        return f"{account}.dkr.ecr.{region}.amazonaws.com/stepml:latest"
    if name.startswith("Subnet"):
        return f"subnet-0000000000000000{name.removeprefix('Subnet')}"
    if name == "SecurityGroupId":
        return "sg-00000000000000000"
    return f"stepml-{name.lower()}"


def to_json(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, indent=2)
