"""The worker behind the transformed tasks: it does each handed-off job with the very code AWS would run.

It polls the queue that :func:`tests.cloud_harness.transform.for_moto` sends to, and per message:

- ``athena:startQueryExecution.sync`` (and Redshift ``executeStatement``) - runs the step's SQL with
  ``steps.extract`` on the local DuckDB sample warehouse (the local stand-in for the warehouse) and puts the
  parquet files where the ``UNLOAD`` would (``.../unload/<attempt>/``); answers ``{"QueryExecution": {...}}``.
  The commit Lambda counts the rows from those files' footers, as in AWS (no row statistics are handed over).
- ``sagemaker:createTrainingJob.sync`` - stages the training channel and ``hyperparameters.json`` in an
  ``/opt/ml``-shaped directory, runs ``python -m steps.train`` (the image's entrypoint; its output goes to
  CloudWatch Logs as SageMaker's does), uploads
  ``<S3OutputPath>/<job>/output/model.tar.gz`` as SageMaker does; answers the DescribeTrainingJob shape.
- ``ecs:runTask.sync`` - runs ``stepml.cloud.task`` (the container's command) with the task definition's environment
  and the call's overrides; answers the DescribeTasks task shape.
- ``sagemaker:createProcessingJob.sync`` - runs the same adapter with the job's environment (the rest read from
  S3, as the job's entrypoint does); answers the DescribeProcessingJob shape.
- ``lambda:invoke`` - calls the Lambda handler of that function (``stepml.cloud.handlers.*``) in-process with the
  payload; answers ``{"Payload": ..., "StatusCode": 200}``, or fails with the error's class name as a Lambda
  integration does.

A failed job answers ``SendTaskFailure``. AWS reports a failed ``.sync`` job as ``States.TaskFailed``, a name
SendTaskFailure may not use (``States.*`` is reserved), so the worker names the service's failure
(``SageMaker.TrainingJobFailed``, ``ECS.TaskFailed``, ``Athena.QueryFailed``): ``States.TaskFailed`` in a Retry or
Catch matches any such error, so the definition's Retry/Catch behave as on AWS. Every message is recorded in :attr:`Worker.calls`; :attr:`Worker.faults` makes the next N jobs of a state fail.

Two AWS rules a retry meets are enforced as the services do: a SageMaker job name is taken for good once a job was
created with it, failed or not (``SageMaker.ResourceInUse``), and an Athena UNLOAD fails on a location that holds
data (``Athena.QueryFailed``); an injected fault of an UNLOAD leaves a partial file there, as Athena leaves orphans.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepml.spec import Pipeline
from tests.cloud_harness.transform import HANDED_OFF

ROOT = Path(__file__).resolve().parents[2]
LAMBDA = "arn:aws:states:::lambda:invoke"
INJECTED = "stepml.InjectedFault"


class TaskFailed(Exception):  # noqa: N818 - the Step Functions error it becomes
    def __init__(self, error: str, cause: Any) -> None:
        super().__init__(error)
        self.error = error
        self.cause = cause if isinstance(cause, str) else json.dumps(cause)


@dataclass(frozen=True)
class Call:
    state: str
    resource: str
    execution: str
    parameters: dict[str, Any]

    @property
    def compute(self) -> bool:
        return self.resource != LAMBDA

    @property
    def step(self) -> str:
        return self.state.partition(": ")[0]


@dataclass
class Worker:
    sqs: Any
    sfn: Any
    s3: Any
    queue_url: str
    bucket: str
    pipeline: Pipeline
    functions: Mapping[str, Callable[[dict[str, Any]], Any]]  # Lambda ARN -> handler(event)
    logs: Any  # CloudWatch Logs client: the training job's output goes there, as SageMaker's does
    tasks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # task definition ARN -> its environment
    image: list[Path] = field(default_factory=lambda: [ROOT])  # where the image's code is (its import path)
    threads: int = 4
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)  # state name -> how many of its next jobs fail
    job_names: set[str] = field(default_factory=set)  # SageMaker job names taken (per account and region)
    rendezvous: dict[str, float] = field(default_factory=dict)  # state -> seconds to wait for a second execution
    holds: dict[str, threading.Event] = field(default_factory=dict)  # state -> its jobs start once the event is set
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _pool: list[threading.Thread] = field(default_factory=list)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Worker:
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"sfn-worker-{i}", daemon=True)
            t.start()
            self._pool.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._pool:
            t.join(timeout=30)

    def compute_calls(self, execution: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.compute and (execution is None or c.execution == execution)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=0)
            except RuntimeError:  # moto 5.2.5's SQS iterates a set that a concurrent send changes (a moto race:
                time.sleep(0.05)  # Parallel branches send at the same time); AWS has no such error - ask again
                continue
            messages = got.get("Messages", [])
            if not messages:
                time.sleep(0.05)
                continue
            message = messages[0]
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            self._serve(json.loads(message["Body"]))

    # ------------------------------------------------------------------ one message
    def _serve(self, body: dict[str, Any]) -> None:
        call = Call(body["state"], body["resource"], body["execution"], body["parameters"])
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()
            failing = self.faults.get(call.state, 0) > 0
            if failing:
                self.faults[call.state] -= 1
        self._meet(call)
        try:
            self._admit(call)
            if failing:
                self._orphan(call)
                raise TaskFailed(INJECTED, {"reason": f"fault injected into {call.state!r} by the test"})
            output = self._do(call, body["input"])
        except TaskFailed as exc:
            self._answer(self.sfn.send_task_failure, taskToken=body["token"], error=exc.error, cause=exc.cause[:32000])
        except Exception as exc:  # a Lambda handler's error: its class name, as the Lambda integration reports
            trace = traceback.format_exc().splitlines()
            cause = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": trace}
            self._answer(
                self.sfn.send_task_failure, taskToken=body["token"], error=type(exc).__name__, cause=json.dumps(cause)
            )
        else:
            self._answer(self.sfn.send_task_success, taskToken=body["token"], output=json.dumps(output, default=str))

    def _answer(self, send: Any, **kwargs: Any) -> None:
        """SendTaskSuccess/Failure, retried over a moto 5.2.5 race: while another execution is starting, its
        ``exec_worker.env`` is still None and moto's lookup of the token raises AttributeError (a moto gap; AWS
        has no such state). A task whose branch was stopped meanwhile (a sibling branch of its Parallel state
        failed) refuses its token, as AWS does ("will throw an error if the state has failed",
        https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html): the job's answer is dropped."""
        gone = (
            self.sfn.exceptions.TaskTimedOut,
            self.sfn.exceptions.InvalidToken,
            self.sfn.exceptions.TaskDoesNotExist,
        )
        for attempt in range(50):
            try:
                send(**kwargs)
                return
            except gone:
                return
            except AttributeError:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def _admit(self, call: Call) -> None:
        """What the service checks before it starts the job (see the module docstring)."""
        name = call.parameters.get("TrainingJobName") or call.parameters.get("ProcessingJobName")
        if name is not None:
            with self._lock:
                taken = name in self.job_names
                self.job_names.add(name)
            if taken:
                raise TaskFailed("SageMaker.ResourceInUse", {"message": f"a job named {name} already exists"})
        target = self._unload_target(call)
        if target is not None:
            bucket, _, prefix = target.removeprefix("s3://").partition("/")
            if self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
                raise TaskFailed("Athena.QueryFailed", {"Status": {"State": "FAILED", "StateChangeReason": target}})

    def _orphan(self, call: Call) -> None:
        """A failed UNLOAD's partial output, which Athena does not delete."""
        target = self._unload_target(call)
        if target is not None:
            bucket, _, prefix = target.removeprefix("s3://").partition("/")
            self.s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/partial_00000", Body=b"PAR1 partial")

    @staticmethod
    def _unload_target(call: Call) -> str | None:
        sql = call.parameters.get("QueryString") or call.parameters.get("Sql")
        return None if sql is None else str(sql).rsplit(" TO '", 1)[1].split("'", 1)[0]

    def hold(self, state: str) -> threading.Event:
        """Hold every job of ``state`` until the returned event is set (the test decides when the job runs)."""
        event = self.holds[state] = threading.Event()
        return event

    def _meet(self, call: Call) -> None:
        """Hold a job of a rendezvous state until another execution asks for the same state (or time is up), and
        a job of a held state until its event is set."""
        held = self.holds.get(call.state)
        if held is not None:
            held.wait(timeout=600)
        timeout = self.rendezvous.get(call.state)
        if timeout is None:
            return
        with self._lock:
            self._lock.wait_for(
                lambda: any(c.state == call.state and c.execution != call.execution for c in self.calls), timeout
            )

    def _do(self, call: Call, state_input: dict[str, Any]) -> Any:
        params = call.parameters
        if call.resource == LAMBDA:
            payload = self.functions[params["FunctionName"]](params["Payload"])
            return {"Payload": payload, "StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if call.resource.endswith("startQueryExecution.sync") or call.resource.endswith("executeStatement"):
            return self._extract(call, state_input)
        if call.resource.endswith("createTrainingJob.sync"):
            return self._train(params)
        if call.resource.endswith("runTask.sync"):
            return self._ecs(params)
        if call.resource.endswith("createProcessingJob.sync"):
            return self._processing(params)
        raise AssertionError(f"unexpected hand-off {call.resource} (known: {HANDED_OFF})")

    # ------------------------------------------------------------------ the jobs
    def _extract(self, call: Call, state_input: dict[str, Any]) -> dict[str, Any]:
        from stepml.core.params import resolve
        from steps.extract.query import connect, extract

        step = call.step
        target = self._unload_target(call)  # the UNLOAD location, s3://bucket/.../unload/<attempt>/
        assert target is not None
        bucket, _, prefix = target.removeprefix("s3://").partition("/")
        params = resolve(self.pipeline.spec.params, state_input["plan"]["params"])
        con = connect(self.pipeline.resolve(self.pipeline.spec.warehouse.local.path), step=step)
        with tempfile.TemporaryDirectory(prefix="stepml-athena-") as tmp:
            try:
                spec = self.pipeline.step(step)
                rows_per_file = getattr(spec, "rows_per_file", 500_000)  # Athena splits its output too
                sql = self.pipeline.context(step).read_text(getattr(spec, "sql", ""))
                result = extract(con, sql, params, Path(tmp), rows_per_file=rows_per_file, min_rows=0, step=step)
            except Exception as exc:
                raise TaskFailed(
                    "Athena.QueryFailed", {"Status": {"State": "FAILED", "StateChangeReason": str(exc)}}
                ) from exc
            finally:
                con.close()
            query_id = str(uuid.uuid4())
            for i, path in enumerate(result.files):
                self.s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{query_id}_{i:05d}")
        return {"QueryExecution": {"QueryExecutionId": query_id, "Status": {"State": "SUCCEEDED"}}, "Id": query_id}

    def _download_prefix(self, uri: str, dest: Path) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        dest.mkdir(parents=True, exist_ok=True)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in (o for page in pages for o in page.get("Contents", [])):
            self.s3.download_file(bucket, obj["Key"], str(dest / obj["Key"].rsplit("/", 1)[-1]))

    def _train(self, params: dict[str, Any]) -> dict[str, Any]:
        job = params["TrainingJobName"]
        with tempfile.TemporaryDirectory(prefix="stepml-sagemaker-") as tmp:
            opt_ml = Path(tmp) / "opt" / "ml"
            config_dir, model_dir, output = opt_ml / "input" / "config", opt_ml / "model", opt_ml / "output"
            for channel in params["InputDataConfig"]:
                source = channel["DataSource"]["S3DataSource"]["S3Uri"]
                self._download_prefix(source, opt_ml / "input" / "data" / channel["ChannelName"])
            config_dir.mkdir(parents=True)
            model_dir.mkdir(parents=True)
            (config_dir / "hyperparameters.json").write_text(json.dumps(params["HyperParameters"]))
            env = {
                **os.environ,
                "PYTHONHASHSEED": "0",  # the image's ENV (Dockerfile)
                "SM_MODEL_DIR": str(model_dir),
                "SM_CHANNEL_TRAIN": str(opt_ml / "input" / "data" / "train"),
                "SM_INPUT_CONFIG_DIR": str(config_dir),
                "SM_OUTPUT_DIR": str(output),
                "SM_OUTPUT_DATA_DIR": str(output / "data"),
            }
            done = subprocess.run(
                [sys.executable, *params["AlgorithmSpecification"]["ContainerEntrypoint"][1:]],  # python -m steps.train
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            self._training_logs(job, done.stdout + done.stderr)
            if done.returncode != 0:
                reason = (output / "failure").read_text() if (output / "failure").exists() else done.stderr[-2000:]
                raise TaskFailed(
                    "SageMaker.TrainingJobFailed",
                    {"TrainingJobName": job, "TrainingJobStatus": "Failed", "FailureReason": reason},
                )
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                for path in sorted(model_dir.iterdir()):
                    tar.add(path, arcname=path.name)
        out_bucket, _, out_prefix = params["OutputDataConfig"]["S3OutputPath"].removeprefix("s3://").partition("/")
        key = f"{out_prefix.rstrip('/')}/{job}/output/model.tar.gz"
        self.s3.put_object(Bucket=out_bucket, Key=key, Body=archive.getvalue())
        return {
            "TrainingJobName": job,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job.lower()}",
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": f"s3://{out_bucket}/{key}"},
        }

    def _training_logs(self, job: str, text: str) -> None:
        """What SageMaker does with the container's output: ``/aws/sagemaker/TrainingJobs``, ``<job>/algo-1-<t>``."""
        group, stream = "/aws/sagemaker/TrainingJobs", f"{job}/algo-1-{int(time.time())}"
        # SageMaker creates it once; trainings of parallel branches may finish at the same moment
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_group(logGroupName=group)
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in text.splitlines() if line.strip()]
        if events:
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _ecs(self, params: dict[str, Any]) -> dict[str, Any]:
        """ECS: the task definition's environment plus the overrides, then the container's command - the task
        adapter (``stepml.cloud.task``), run against the image's code (this checkout)."""
        from stepml.cloud import task

        (override,) = params["Overrides"]["ContainerOverrides"]
        not_text = [e["Name"] for e in override["Environment"] if not isinstance(e.get("Value"), str)]
        if not_text:  # RunTask rejects the call, as ECS does
            raise TaskFailed(
                "ECS.InvalidParameterException", {"message": f"environment values not strings: {not_text}"}
            )
        size = len(json.dumps(params["Overrides"], separators=(",", ":")))
        # RunTask rejects overrides above 8,192 characters: "A total of 8192 characters are allowed for overrides.
        # This limit includes the JSON formatting characters of the override structure."
        # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html (moto does not check it)
        if size > 8192:
            raise TaskFailed("ECS.InvalidParameterException", {"message": f"overrides are {size} characters"})
        env = {
            "ARTIFACT_BUCKET": self.bucket,
            **self.tasks[params["TaskDefinition"]],
            **{e["Name"]: e["Value"] for e in override["Environment"]},
        }
        task_arn = f"arn:aws:ecs:us-east-1:123456789012:task/stepml/{uuid.uuid4().hex}"
        with tempfile.TemporaryDirectory(prefix="stepml-ecs-") as tmp:
            code = task.run(env, self.s3, Path(tmp), roots=self.image)
        described = {
            "TaskArn": task_arn,
            "LastStatus": "STOPPED",
            "StopCode": "EssentialContainerExited",
            "Containers": [{"Name": override["Name"], "ExitCode": code}],
        }
        if code != 0:
            raise TaskFailed("ECS.TaskFailed", described)
        return described

    def _processing(self, params: dict[str, Any]) -> dict[str, Any]:
        """SageMaker Processing: the job's environment, then its entrypoint - the task adapter, reading the rest of
        its environment from S3 (``--environment-from-s3``)."""
        from stepml.cloud import task

        job = params["ProcessingJobName"]
        too_long = [k for k, v in params["Environment"].items() if len(k) > 256 or len(str(v)) > 256]
        if too_long or len(params["Environment"]) > 100:  # CreateProcessingJob's limits
            raise TaskFailed("SageMaker.ValidationException", {"message": f"environment too long: {too_long}"})
        env = {**params["Environment"]}
        bucket, key = task.split_uri(env["STEPML_ENVIRONMENT_URI"])
        env.update(json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        with tempfile.TemporaryDirectory(prefix="stepml-processing-") as tmp:
            code = task.run(env, self.s3, Path(tmp), roots=self.image)
        if code != 0:
            raise TaskFailed(
                "SageMaker.ProcessingJobFailed",
                {"ProcessingJobName": job, "ProcessingJobStatus": "Failed", "ExitMessage": f"exit code {code}"},
            )
        return {"ProcessingJobName": job, "ProcessingJobStatus": "Completed"}
