"""The AWS side of a pipeline, in moto (in-process): the resources the stacks create, the compiled state machine.

:func:`open_rig` must run inside ``mock_aws(config=EXECUTE)``. It creates what the data, monitoring and pipeline
stacks would (artifact bucket, lock table, SNS topic, SageMaker model package group), stages the Lambda config
(``stepml.cloud.bundle.lambda_config``, the JSON the deployed asset embeds), compiles the definition with
``stepml.cloud.asl.compile_definition`` (what ``PipelineStateMachine`` deploys), resolves its ``${...}``
placeholders to these resources, applies :func:`tests.cloud_harness.transform.for_moto` and creates the state
machine. A queue subscribed to the topic records the notifications.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from moto.core.config import DefaultConfig

from stepml.cloud.asl import Compiled, compile_pipeline, resolve, task_definition_var
from stepml.cloud.bundle import lambda_config
from stepml.cloud.handlers.models import GROUP_PREFIX_ENV, group_name
from stepml.spec import Pipeline
from tests.cloud_harness.transform import for_moto
from tests.cloud_harness.worker import Worker

EXECUTE: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET, TABLE, GROUP_PREFIX = "stepml-artifacts", "stepml-locks", "stepml-rig"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/stepml-states"
PLAN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stepml-plan"
COMMIT_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stepml-commit"

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Rig:
    pipeline: Pipeline
    sfn: Any
    s3: Any
    sqs: Any
    ddb: Any
    topic_arn: str
    notices_url: str
    worker: Worker
    machine_arn: str
    values: dict[str, str]

    def start(self, params: Mapping[str, Any] | None = None, *, name: str | None = None) -> str:
        started = self.sfn.start_execution(  # a name always: moto leaves $$.Execution.Name empty without one
            stateMachineArn=self.machine_arn,
            input=json.dumps({"params": dict(params or {})}),
            name=name or f"run-{uuid.uuid4().hex[:12]}",
        )
        return str(started["executionArn"])

    def start_scheduled(self, schedule: str, scheduled_time: str, *, name: str | None = None) -> str:
        """Start an execution as EventBridge Scheduler does for ``schedule``: the input the stack's schedule holds
        (:func:`stepml.core.schedule.schedule_input`) with ``<aws.scheduler.scheduled-time>`` replaced by
        ``scheduled_time`` (``2026-05-01T18:00:00Z``: UTC, second precision, as Scheduler sends it)."""
        from stepml.core.schedule import SCHEDULED_TIME, schedule_input

        spec = self.pipeline.spec.named_schedules()[schedule]
        text = schedule_input(schedule, spec.params).replace(SCHEDULED_TIME, scheduled_time)
        started = self.sfn.start_execution(
            stateMachineArn=self.machine_arn, input=text, name=name or f"{schedule}-{uuid.uuid4().hex[:12]}"
        )
        return str(started["executionArn"])

    def wait(self, execution: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got: dict[str, Any] = self.sfn.describe_execution(executionArn=execution)
            if got["status"] != "RUNNING":
                return got
            time.sleep(0.1)
        raise TimeoutError(f"{execution} still running after {timeout}s")

    def run(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.wait(self.start(params))

    def output(self, described: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(described["output"])
        return out

    def notices(self) -> list[dict[str, Any]]:
        """SNS messages published to the topic so far (Subject, Message), drained from the subscribed queue."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.notices_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for m in got["Messages"]:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.notices_url, ReceiptHandle=m["ReceiptHandle"])

    def manifests(self) -> dict[str, dict[str, Any]]:
        """Every committed manifest in the bucket, by step name (one key per step expected)."""
        out: dict[str, dict[str, Any]] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{self.pipeline.name}/steps/")
        for obj in (o for page in pages for o in page.get("Contents", [])):
            if obj["Key"].endswith("/_manifest.json"):
                m = json.loads(self.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
                out.setdefault(m["step"], m)
        return out

    def notify(self, execution: str) -> dict[str, Any]:
        """What the status-change rule does (moto's EventBridge invokes no Lambda): the notify handler's summary."""
        from stepml.cloud.handlers import notify

        described = self.sfn.describe_execution(executionArn=execution)
        fields = ("executionArn", "name", "status", "startDate", "stopDate", "input", "output")
        detail = {k: described.get(k) for k in fields}
        for k in ("startDate", "stopDate"):  # the event carries epoch milliseconds
            detail[k] = int(detail[k].timestamp() * 1000) if detail[k] is not None else None
        detail["stateMachineArn"] = self.machine_arn
        return notify.handler({"detail-type": "Step Functions Execution Status Change", "detail": detail})

    def locks(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.ddb.scan(TableName=TABLE)["Items"]
        return items


def placeholder_values(compiled: Compiled) -> dict[str, str]:
    """A value for every ``${Name}`` of the definition: the moto resources, or ARNs only the worker reads."""
    values = {
        "ArtifactBucket": BUCKET,
        "LockTable": TABLE,
        "PlanFunctionArn": PLAN_ARN,
        "CommitFunctionArn": COMMIT_ARN,
        "ModelGroupPrefix": GROUP_PREFIX,
        "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/stepml-sagemaker",
    }
    return {n: values.get(n, resolve({"v": f"${{{n}}}"})["v"]) for n in compiled.substitutions}


def _functions(bucket: str, s3: Any, pipeline: Pipeline) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """The Lambda ARNs -> their handlers, called as the Lambda runtime would (with moto's clients) - but for the
    plan's data-version probe: the rig's warehouse is the DuckDB file (the worker answers Athena from it), so the
    probe reads it (``steps.extract.probe``) where AWS lists the Glue tables' S3 objects
    (``steps.extract.probe_cloud``, tested on moto's Glue and S3 in the unit tests)."""
    from stepml.cloud.handlers import commit, plan
    from stepml.cloud.handlers._config import load_config
    from steps.extract.probe import resolver as warehouse_probe

    clients = {"cloudwatch": boto3.client("cloudwatch", region_name=REGION)}

    def plan_handler(event: dict[str, Any]) -> Any:
        return plan.handler(event, resolvers={"data": warehouse_probe(pipeline)})

    def commit_handler(event: dict[str, Any]) -> Any:
        if event.get("action") != "commit":
            return commit.handler(event)
        return commit.commit(event, config=load_config(), bucket=bucket, s3=s3, client=client)

    def client(service: str) -> Any:  # moto's clients, as the Lambda runtime's boto3 would build them
        if service not in clients:
            clients[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
        return clients[service]

    return {PLAN_ARN: plan_handler, COMMIT_ARN: commit_handler}


@contextmanager
def moto_fixes() -> Iterator[None]:
    """Eight gaps of moto 5.2.5, patched in the interpreter and the backend (never in the definition).

    - ``aws-sdk:s3:getObject`` hands the raw ``StreamingBody`` to the next expression, so
      ``States.StringToJson($.Body)`` fails; AWS returns ``Body`` as a string. Read it into a string.
    - ``aws-sdk:*`` results keep boto3's ``datetime`` objects, which the execution output cannot serialize; AWS
      returns timestamps as ISO-8601 strings.
    - ``aws-sdk:sfn:describeExecution`` passes ``ExecutionArn`` to boto3, which wants ``executionArn``, and
      returns boto3's ``status``; AWS takes and returns the PascalCase names. Translate both ways.
    - A definite JSONPath through an array index (``$.gate.found.packages[0].ModelPackageArn``) selects a list of
      one in moto (its fix for moto issue 7825); AWS selects the value. Evaluated as AWS does.
    - An indefinite path through an object wildcard (``$.released.Attributes.*.M.token.S``: every waiter's token)
      selects the value itself when it matches once, and fails when it matches nothing, in moto; AWS evaluates
      paths with Jayway JsonPath (https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html
      "Paths follow JsonPath syntax"), whose indefinite paths give a list of every match. Evaluated as AWS does.
    - ``UpdateModelPackage`` without ``CustomerMetadataProperties`` erases the stored ones in moto; AWS keeps them.
    - The context object has no ``Execution.RedriveCount`` in moto; AWS gives 0 until the execution is redriven.
    - A retried ``.waitForTaskToken`` task keeps its first attempt's token in moto, whose outcome (the failure) is
      then read again, so a retry could never succeed; AWS schedules each attempt anew, with a new token.
    - A Distributed Map's ``ResultWriter`` writes only an empty ``manifest.json`` in moto ("TODO: generate result
      files"); AWS writes the child executions' results (``SUCCEEDED_0.json``, ``FAILED_0.json``) and lists them
      in it. Written as AWS does (:func:`_map_run_results`).
    """
    from unittest import mock

    from botocore.response import StreamingBody
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    original = aws_sdk.StateTaskServiceAwsSdk._eval_service_task

    def patched(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        sfn = self._get_boto_service_name() in ("sfn", "stepfunctions")
        if sfn:
            normalised_parameters = {k[:1].lower() + k[1:]: v for k, v in normalised_parameters.items()}
        original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        response = env.stack[-1] = _as_json(env.stack[-1])
        if isinstance(response, dict):
            for k, v in list(response.items()):
                if isinstance(v, StreamingBody):
                    response[k] = v.read().decode()
            if sfn:
                env.stack[-1] = {k[:1].upper() + k[1:]: v for k, v in response.items()}

    with (
        mock.patch.object(aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", patched),
        _definite_json_paths(),
        _model_package_metadata_kept(),
        _redrive_count(),
        _new_token_per_retry(),
        _map_run_results(),
    ):
        yield


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_INDEFINITE = re.compile(r"\*|\?\(|\.\.|\[[^\]]*[:,][^\]]*\]")


@contextmanager
def _definite_json_paths() -> Iterator[None]:
    import importlib
    from unittest import mock

    from jsonpath_ng.ext.parser import parse
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        if not _INDEFINITE.search(path):
            matches = parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        elif re.search(r"\.\*", path):  # an object wildcard: Jayway gives every match as a list, even one or none
            return [m.value for m in parse(path).find(data)]
        return original(path, data)

    users = [
        importlib.import_module(f"moto.stepfunctions.parser.asl.{name}")
        for name in (
            "component.common.string.string_expression",
            "component.intrinsic.argument.argument",
            "component.state.choice.comparison.operator.implementations.boolean_equals",
            "component.state.choice.comparison.operator.implementations.numeric",
            "component.state.choice.comparison.operator.implementations.string_operators",
            "component.state.choice.comparison.operator.implementations.timestamp_operators",
            "eval.states",
        )
    ]
    with ExitStack() as stack:
        for module in users:
            assert module.extract_json is original, module.__name__  # moto changed: revisit this patch
            stack.enter_context(mock.patch.object(module, "extract_json", extract_json))
        yield


@contextmanager
def _model_package_metadata_kept() -> Iterator[None]:
    from unittest import mock

    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.update_model_package

    def update_model_package(self: Any, model_package_arn: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("customer_metadata_properties") is None:
            current = self.describe_model_package(model_package_arn)
            kwargs["customer_metadata_properties"] = dict(current.customer_metadata_properties or {})
        return original(self, model_package_arn, *args, **kwargs)

    with mock.patch.object(SageMakerModelBackend, "update_model_package", update_model_package):
        yield


@contextmanager
def _redrive_count() -> Iterator[None]:
    from unittest import mock

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_environment

    def environment(self: Any) -> Any:
        env = original(self)
        execution: Any = env.states.context_object.context_object_data["Execution"]
        execution.setdefault("RedriveCount", 0)
        return env

    with mock.patch.object(ExecutionWorker, "_get_evaluation_environment", environment):
        yield


@contextmanager
def _new_token_per_retry() -> Iterator[None]:
    from unittest import mock

    from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    original = ExecutionState._handle_retry

    def handle_retry(self: Any, env: Any, failure_event: Any) -> Any:
        outcome = original(self, env, failure_event)
        if outcome == RetryOutcome.CanRetry and "Task" in env.states.context_object.context_object_data:
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        return outcome

    with mock.patch.object(ExecutionState, "_handle_retry", handle_retry):
        yield


@contextmanager
def _map_run_results() -> Iterator[None]:
    """The ResultWriter's export as AWS documents it (``input-output-resultwriter.html``): under
    ``<Prefix>/<map run id>/``, ``SUCCEEDED_0.json`` and ``FAILED_0.json`` - JSON arrays of the child executions'
    records (``Input`` and ``Output`` as JSON strings, ``Status``, ...) - and ``manifest.json`` listing them under
    ``ResultFiles``; the state's result is ``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}``. A child's
    input is recorded as it ran (after the ItemSelector); a child that failed has no output (moto closes it with
    none), as in AWS."""
    import copy
    from unittest import mock

    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as workers,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3 as writer,
    )
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    worker_class = workers.DistributedItemProcessorWorker
    original_input = worker_class._eval_input

    def eval_input(self: Any, env_frame: Any) -> None:
        original_input(self, env_frame)
        index = env_frame.states.context_object.context_object_data["Map"]["Item"]["Index"]
        self._map_run_record.__dict__.setdefault("rig_inputs", {})[index] = copy.deepcopy(env_frame.states.get_input())

    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters, outputs = env.stack.pop(), env.stack.pop()
        record = env.map_run_record_pool_manager.get_all().pop()
        s3: Any = boto_client_for(
            service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
        )
        bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
        prefix = f"{prefix.rstrip('/')}/" if prefix else ""
        folder = f"{prefix}{record.map_run_arn.split(':')[-1]}"
        inputs = record.__dict__.get("rig_inputs", {})
        now = datetime.now().isoformat()
        by_status: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": []}
        for index, output in enumerate(outputs):
            status = "FAILED" if output is None else "SUCCEEDED"
            item: dict[str, Any] = {
                "ExecutionArn": f"{record.map_run_arn}:{index}",
                "Input": json.dumps(inputs.get(index)),
                "InputDetails": {"Included": True},
                "Name": str(index),
                "RedriveCount": 0,
                "StartDate": now,
                "StateMachineArn": record.map_run_arn.rsplit(":", 1)[0],
                "Status": status,
                "StopDate": now,
            }
            if output is not None:
                item |= {"Output": json.dumps(output), "OutputDetails": {"Included": True}}
            by_status[status].append(item)
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status, items in by_status.items():
            if items:
                body = json.dumps(items).encode()
                key = f"{folder}/{status}_0.json"
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": files}
        key = f"{folder}/manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
        env.stack.append({"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})

    with (
        mock.patch.object(worker_class, "_eval_input", eval_input),
        mock.patch.object(writer.ResourceEvalS3, "_handle_put_object", staticmethod(put_object)),
    ):
        yield


@contextmanager
def open_rig(
    pipeline: Pipeline,
    workdir: Path,
    *,
    transform: Transform | None = None,
    name: str = "stepml",
    liveness_seconds: int = 60,
) -> Iterator[Rig]:
    """Create the resources and the state machine, start the worker; stop it on exit (see the module docstring).
    ``liveness_seconds``: how long a run waiting for a lock trusts its live holder (300 s in AWS)."""
    from stepml.cloud.handlers._config import load_config

    s3, sfn = boto3.client("s3", region_name=REGION), boto3.client("stepfunctions", region_name=REGION)
    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    ddb, sagemaker = boto3.client("dynamodb", region_name=REGION), boto3.client("sagemaker", region_name=REGION)
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    existing = {
        g["ModelPackageGroupName"] for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    }
    for model in pipeline.spec.named_models():
        if group_name(GROUP_PREFIX, model) not in existing:
            sagemaker.create_model_package_group(ModelPackageGroupName=group_name(GROUP_PREFIX, model))
    topic_arn = sns.create_topic(Name="stepml-notifications")["TopicArn"]
    notices_url = sqs.create_queue(QueueName=f"{name}-notices")["QueueUrl"]
    notices_arn = sqs.get_queue_attributes(QueueUrl=notices_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notices_arn)
    queue_url = sqs.create_queue(QueueName=f"{name}-work")["QueueUrl"]

    config_path = workdir / f"{name}-stepml_cloud.json"
    config_path.write_text(json.dumps(lambda_config(pipeline)))
    saved = {k: os.environ.get(k) for k in ("STEPML_CLOUD_CONFIG", "ARTIFACT_BUCKET", "TOPIC_ARN", GROUP_PREFIX_ENV)}
    os.environ.update(
        {
            "STEPML_CLOUD_CONFIG": str(config_path),
            "ARTIFACT_BUCKET": BUCKET,
            "TOPIC_ARN": topic_arn,
            GROUP_PREFIX_ENV: GROUP_PREFIX,
        }
    )
    load_config.cache_clear()

    compiled = compile_pipeline(pipeline)
    values = {**placeholder_values(compiled), "TopicArn": topic_arn}
    definition = resolve(compiled.definition, values)
    if transform is not None:
        definition = transform(definition)
    definition = for_moto(definition, queue_url, liveness_seconds=liveness_seconds)
    machine_arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    logs = boto3.client("logs", region_name=REGION)
    # what each ECS task definition holds (its environment), by the ARN the definition names
    task_environments = {values[task_definition_var(n)]: need.environment for n, need in compiled.tasks.items()}
    worker = Worker(sqs, sfn, s3, queue_url, BUCKET, pipeline, functions={}, logs=logs, tasks=task_environments)
    worker.image = [pipeline.project_root, *worker.image]  # the image holds the project's code (Dockerfile)
    worker.functions = _functions(BUCKET, s3, pipeline)
    worker.start()
    try:
        with moto_fixes():
            yield Rig(pipeline, sfn, s3, sqs, ddb, topic_arn, notices_url, worker, machine_arn, values)
    finally:
        worker.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        load_config.cache_clear()


def failures(rig: Rig, execution: str) -> list[dict[str, Any]]:
    """The failure events of an execution, each with the state it happened in (for assertion messages)."""
    events = rig.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    out, state = [], ""
    for e in events:
        state = e.get("stateEnteredEventDetails", {}).get("name", state)
        if e["type"].endswith("Failed"):
            out.append({"state": state, **{k: v for k, v in e.items() if k.endswith("Details")}})
    return out
