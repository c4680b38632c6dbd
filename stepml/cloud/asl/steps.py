"""What a step type's ``states`` facet builds with: :class:`StepStates`, one per step.

The facet's ``build(b)`` adds the states of its native work (a query, a training job, an ECS task, a choice...)
and returns the name of the first one; its last state goes to ``b.commit``, where the generic envelope commits the
output (``stepml.cloud.asl.envelope``). Whatever the commit Lambda needs to finish the output (a query id, a
model URI, the gate's decision) goes to ``$.task``; the type's cloud facet reads it there.

Steps that run as a process (score, check, python) use :meth:`StepStates.ecs_task` / :meth:`ecs_map`: the generic
task adapter (``python -m stepml.cloud.task``) in the pipeline image, given the step's settings in its task
definition and the execution's values (parameters, upstream prefixes, where to write) in its overrides. The
builder records what the step needs from the stacks (:class:`TaskNeed`), so the CDK side creates exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stepml.cloud.asl import builder as asl

if TYPE_CHECKING:
    from stepml.spec.models import StepSpec
    from stepml.spec.pipeline import Pipeline


@dataclass(frozen=True)
class TaskNeed:
    """An ECS task definition a step runs in: its size, what never changes between runs, its secrets and the
    extra statements of its own task role."""

    step: str
    cpu: int
    memory: int
    environment: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)  # env name -> "ssm:<name>" | "secretsmanager:<id>"
    policy: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ProcessingNeed:
    """A SageMaker Processing job a step runs as (a user step that asks for an instance type)."""

    step: str
    instance_type: str
    environment: dict[str, str]
    policy: tuple[dict[str, Any], ...] = ()


class StepStates:
    def __init__(
        self,
        pipeline: Pipeline,
        name: str,
        states: dict[str, dict[str, Any]],
        needs: dict[str, Any],
        *,
        fail: str = "Notify failure",
    ) -> None:
        self.pipeline = pipeline
        self.name = name
        self.states = states  # the states of the branch the step runs in (the machine's, at the top level)
        self.fail = fail  # where a failure ends once the lock is released: the notification, or its branch's Fail
        self._needs = needs

    # ------------------------------------------------------------------ what the facet reads
    @property
    def spec(self) -> StepSpec:
        return self.pipeline.step(self.name)

    @property
    def on_error(self) -> str:
        """Where a failure goes: the lock is released and the failure notified."""
        return f"{self.name}: release lock (failed)"

    @property
    def commit(self) -> str:
        return f"{self.name}: commit"

    def state(self, phase: str) -> str:
        return f"{self.name}: {phase}"

    def plan(self, field_: str) -> str:
        """JSONPath of this step's entry in the plan Lambda's output (key, prefix, attempt, uri, ...)."""
        return f"$.plan.steps.{self.name}.{field_}"

    def job_name(self) -> str:
        """An intrinsic: the plan's SageMaker job name (``job_name``) with this attempt's counters - a retried or
        redriven job needs a new name (names stay taken, even by failed jobs)."""
        return asl.per_attempt(self.plan("job_name"))

    def per_attempt_text(self, head: str, tail: str) -> str:
        """An intrinsic giving ``<head><redrives>-<retries><tail>`` (``head``/``tail`` are JSONPaths): e.g. a
        statement whose output location no earlier attempt of the state wrote to."""
        return f"States.Format('{{}}{{}}-{{}}{{}}', {head}, {asl.ATTEMPT_COUNTERS}, {tail})"

    @property
    def attempt_token(self) -> str:
        """An intrinsic giving ``<redrives>-<retries>`` of the current attempt (in a ResultSelector: the one that
        succeeded)."""
        return asl.ATTEMPT_TOKEN

    def result(self, upstream: str, field_: str) -> str:
        """JSONPath of a finished upstream step's result (key, prefix, summary...)."""
        return f"$.results.{upstream}.{field_}"

    def upstream_of(self, kind: str) -> str:
        names = self.pipeline.upstream(self.name).get(kind, [])
        if not names:
            raise ValueError(f"step {self.name!r} has no upstream step producing {kind!r}")
        return names[0]

    def data_uri(self, upstream: str) -> str:
        """An intrinsic giving ``s3://<bucket>/<upstream attempt>/data/``."""
        return f"States.Format('s3://${{ArtifactBucket}}/{{}}/data/', $.results.{upstream}.prefix)"

    # ------------------------------------------------------------------ states
    def add(self, phase: str, state: dict[str, Any]) -> str:
        name = self.state(phase)
        self.states[name] = state
        return name

    def task(self, phase: str, resource: str, parameters: dict[str, Any], **kw: Any) -> str:
        kw.setdefault("catch_to", self.on_error)
        return self.add(phase, asl.task(resource, parameters, **kw))

    def commit_lambda(self, phase: str, payload: dict[str, Any], **kw: Any) -> str:
        """A call of the commit function with another action (``decide``, ``partition``)."""
        kw.setdefault("catch_to", self.on_error)
        return self.add(phase, asl.lambda_task(asl.COMMIT_FUNCTION, {"step": self.name, **payload}, **kw))

    # ------------------------------------------------------------------ process steps on ECS
    def process(
        self,
        entry: str,
        config: Mapping[str, Any],
        *,
        threads: int = 1,
        secrets: Mapping[str, str] | None = None,
        policy: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Declare that this step runs ``entry`` in an ECS task: its task definition's size and environment
        (the settings, the code digest the image must match), its secrets and its own IAM statements."""
        r = self.spec.resources
        environment = self._environment(entry, config, threads, secrets)
        self._needs[self.name] = TaskNeed(
            self.name, r.cpu or 1024, r.memory or 2048, environment, dict(secrets or {}), policy
        )

    def processing(
        self,
        entry: str,
        config: Mapping[str, Any],
        *,
        threads: int = 1,
        secrets: Mapping[str, str] | None = None,
        policy: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Declare that this step runs ``entry`` as a SageMaker Processing job (its instance type from the spec);
        it has no secret injection, so the task adapter fetches them by reference (``STEPML_SECRET_REFS``)."""
        environment = self._environment(entry, config, threads, secrets)
        if secrets:
            environment["STEPML_SECRET_REFS"] = json.dumps(dict(secrets), sort_keys=True)
        instance = self.spec.resources.instance_type or "ml.m5.xlarge"
        self._needs[self.name] = ProcessingNeed(self.name, instance, environment, policy)

    def _environment(
        self, entry: str, config: Mapping[str, Any], threads: int, secrets: Mapping[str, str] | None
    ) -> dict[str, str]:
        environment = static_environment(self.pipeline, self.name, entry, config, threads)
        if secrets:
            environment["STEPML_SECRETS"] = json.dumps(sorted(secrets))
        return environment

    def processing_job(self, phase: str, *, next_: str) -> str:
        """The stage Lambda writes the job's environment (settings and this execution's inputs) to S3 - a
        Processing job's environment values are limited to 256 characters - then the job runs the task adapter,
        which reads it from there."""
        r = self.spec.resources
        first = self.commit_lambda(
            "stage",
            {
                "action": "stage",
                "attempt.$": self.plan("attempt"),
                "environment": {e["Name"] + ".$": e["Value.$"] for e in self.run_environment()},
            },
            result_selector={"uri.$": "$.Payload.uri"},
            result_path="$.staged",
            next_=self.state(phase),
        )
        self.task(
            phase,
            "arn:aws:states:::sagemaker:createProcessingJob.sync",
            {
                "ProcessingJobName.$": self.job_name(),
                "RoleArn": asl.placeholder(processing_role_var(self.name)),
                "AppSpecification": {
                    "ImageUri": "${ImageUri}",
                    "ContainerEntrypoint": ["python", "-m", "stepml.cloud.task", "--environment-from-s3"],
                },
                "Environment": {"ARTIFACT_BUCKET": "${ArtifactBucket}", "STEPML_ENVIRONMENT_URI.$": "$.staged.uri"},
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": r.instance_type or "ml.m5.xlarge",
                        "VolumeSizeInGB": r.volume_gb,
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": r.timeout_minutes * 60},
            },
            result_selector={"job_name.$": "$.ProcessingJobName"},
            result_path="$.task",
            next_=next_,
            services=("sagemaker",),
            timeout_s=r.timeout_minutes * 60 + 900,
            retries=r.retries,
        )
        return first

    def ecs_parameters(self, environment: list[dict[str, Any]]) -> dict[str, Any]:
        """RunTask's parameters. In the ``public`` network the task's subnets are public ones, where a Fargate task
        reaches ECR, S3 and CloudWatch Logs only with a public IP (AssignPublicIp defaults to DISABLED): aws-rules
        section 31."""
        public = self.pipeline.spec.deploy.network == "public"
        return {
            "Cluster": "${ClusterArn}",
            "TaskDefinition": asl.placeholder(asl.task_definition_var(self.name)),
            "LaunchType": "FARGATE",
            "PropagateTags": "TASK_DEFINITION",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets": [f"${{Subnet{i}}}" for i in range(asl.SUBNET_COUNT)],
                    "SecurityGroups": ["${SecurityGroupId}"],
                    "AssignPublicIp": "ENABLED" if public else "DISABLED",
                }
            },
            "Overrides": {"ContainerOverrides": [{"Name": asl.CONTAINER_NAME, "Environment": environment}]},
        }

    def inputs_state(
        self,
        inputs: Mapping[str, Mapping[str, str]],
        *,
        next_: str,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> str:
        """A Pass state gathering the upstream values the task adapter needs at ``$.inputs``: per upstream its
        attempt prefix (and whatever else ``inputs`` maps to JSONPaths, e.g. a model URI); ``extra``: inputs that
        are no upstream step (a model the plan resolved), given as Parameters."""
        built: dict[str, Any] = {
            up: {"prefix.$": self.result(up, "prefix"), **{f"{k}.$": v for k, v in more.items()}}
            for up, more in inputs.items()
        }
        built.update({k: dict(v) for k, v in (extra or {}).items()})
        return self.add("inputs", {"Type": "Pass", "Parameters": built, "ResultPath": "$.inputs", "Next": next_})

    def run_environment(self) -> list[dict[str, Any]]:
        """The per-execution part of a process step's environment (the rest is in its task definition)."""
        return [
            {"Name": "STEPML_RUN_ID", "Value.$": "$.plan.run_id"},
            {"Name": "STEPML_PARAMS", "Value.$": "States.JsonToString($.plan.params)"},
            {"Name": "STEPML_INPUTS", "Value.$": "States.JsonToString($.inputs)"},
            {"Name": "STEPML_OUTPUT_URI", "Value.$": self.plan("uri")},
        ]

    def ecs_task(self, phase: str, *, next_: str) -> str:
        """One ECS task running the step's entry over all its inputs."""
        r = self.spec.resources
        return self.task(
            phase,
            "arn:aws:states:::ecs:runTask.sync",
            self.ecs_parameters(self.run_environment()),
            result_selector={"task_arn.$": "$.TaskArn"},
            result_path="$.task",
            next_=next_,
            services=("ecs",),
            timeout_s=r.timeout_minutes * 60,
            retries=r.retries,
        )

    def ecs_map(self, phase: str, *, partition_input: str, partitions: int, max_concurrency: int, next_: str) -> str:
        """A partition Lambda (files of ``partition_input`` -> ``_partitions.json``), then a Distributed Map running
        one ECS task per partition, ``max_concurrency`` at a time; a failed partition fails the map.

        Sizes stay bounded whatever the number of partitions or files: each task's overrides carry the partitions
        object's key and its index, never its files (ECS RunTask: 8,192 characters of overrides); each child
        execution outputs only its index, and the ResultWriter writes the children's results to S3
        (``<pipeline>/map-runs/<step>/``), so the Map's own output is a pointer to them, not an array of every child's output
        (256 KiB per state output); the commit Lambda reads them there. The prefix is fixed
        (``<pipeline>/map-runs/<step>/``): each Map Run writes under its own id."""
        r = self.spec.resources
        environment = [
            *self.run_environment(),
            {"Name": "STEPML_PARTITIONS_KEY", "Value.$": "$.partitions_key"},
            {"Name": "STEPML_PARTITION", "Value.$": "States.Format('{}', $.partition)"},
        ]
        run = asl.task(
            "arn:aws:states:::ecs:runTask.sync",
            self.ecs_parameters(environment),
            result_path=None,
            next_="unused",
            services=("ecs",),
            catch_to="unused",
            timeout_s=r.timeout_minutes * 60,
            retries=r.retries,
        )
        run.pop("Catch")  # a failed partition fails the map; the map's Catch releases the lock
        run.pop("Next")
        run["OutputPath"] = "$.partition"  # the child's output: its index (what the commit checks), nothing more
        run["End"] = True
        first = self.commit_lambda(
            "partition",
            {
                "action": "partition",
                "source_prefix.$": self.result(partition_input, "prefix"),
                "attempt.$": self.plan("attempt"),
                "partitions": partitions,
            },
            result_selector={"key.$": "$.Payload.key", "count.$": "$.Payload.count"},
            result_path="$.partition",
            next_=self.state(phase),
        )
        self.add(
            phase,
            {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": "${ArtifactBucket}", "Key.$": "$.partition.key"},
                },
                "ItemSelector": {
                    "partition.$": "$$.Map.Item.Value.index",
                    "partitions_key.$": "$.partition.key",
                    "inputs.$": "$.inputs",
                    "plan.$": "$.plan",
                },
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": self.state("run task"),
                    "States": {self.state("run task"): run},
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {
                        "Bucket": "${ArtifactBucket}",
                        "Prefix": map_results_prefix(self.pipeline.name, self.name),
                    },
                },
                "ResultSelector": {"map_run.$": "$.MapRunArn", "results_key.$": "$.ResultWriterDetails.Key"},
                "ResultPath": "$.task",
                "Retry": [asl.retry("s3")],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": self.on_error}],
                "Next": next_,
            },
        )
        return first


def map_results_prefix(pipeline: str, step: str) -> str:
    """Where a partitioned step's Distributed Map writes its Map Runs' results (``<map run id>/manifest.json``)."""
    return f"{pipeline}/map-runs/{step}"


def processing_role_var(step: str) -> str:
    """The placeholder of the role a step's SageMaker Processing job runs as (its own)."""
    return f"ProcessingRoleArn{asl.camel(step)}"


def static_environment(
    pipeline: Pipeline, name: str, entry: str, config: Mapping[str, Any], threads: int
) -> dict[str, str]:
    """What never changes between runs of a process step: its task definition's environment."""
    return {
        "STEPML_STEP": name,
        "STEPML_TYPE": pipeline.step(name).type,
        "STEPML_ENTRY": entry,
        "STEPML_PIPELINE": pipeline.name,
        "STEPML_CONFIG": json.dumps(dict(config), sort_keys=True, separators=(",", ":")),
        "STEPML_PARAM_TYPES": json.dumps({k: p.type for k, p in pipeline.spec.params.items()}, sort_keys=True),
        "STEPML_THREADS": str(threads),
        "STEPML_UPSTREAM_KINDS": json.dumps(
            {d: list(pipeline.step_type(d).produces) for d in pipeline.step(name).needs}, sort_keys=True
        ),
        "STEPML_CODE_MODULES": json.dumps(pipeline.code_modules(name)),
        "STEPML_CODE_DIGEST": pipeline.code_digest(name).digest,
    }
