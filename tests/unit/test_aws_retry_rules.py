"""AWS rules a retried or re-checked state must respect, encoded on the compiled definition (no AWS call).

A Retry re-runs the very same Parameters; what a second attempt sends must be valid for AWS given what the first
one left behind (a job name taken for good, a non-empty UNLOAD location). A cache check's failure is a miss only when
S3 says the object does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.cloud.asl import compile_pipeline, named_states
from stepml.cloud.asl.machine import iter_states
from stepml.cloud.bundle import lambda_config
from stepml.cloud.handlers.plan import plan_payload
from stepml.core.plan import empty_registry
from stepml.spec import Pipeline, load_spec
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "job_matching" / "pipeline.yaml"
SAGEMAKER_JOBS = {
    "arn:aws:states:::sagemaker:createTrainingJob.sync": "TrainingJobName",
    "arn:aws:states:::sagemaker:createProcessingJob.sync": "ProcessingJobName",
}
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # CreateTrainingJob / CreateProcessingJob
PER_ATTEMPT = ("$$.State.RetryCount", "$$.Execution.RedriveCount")
FORMAT = re.compile(r"^States\.Format\('([^']*)',\s*(.*)\)$")


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> list[Pipeline]:
    """The reference pipeline (train) and the example with a Processing step, long names and many retries."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["project_root"] = str(ROOT)
    raw["name"] = "a-very-long-pipeline-name-for-the-job-name-limit"
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
        raw["steps"][name]["resources"] = {"retries": 10}
    raw["steps"]["features_train"]["resources"] = {"instance_type": "ml.m5.2xlarge", "retries": 10}
    spec = tmp_path_factory.mktemp("retry-rules") / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return [load_spec(ROOT / "pipeline.yaml"), load_spec(spec)]


def _render(expression: str, values: dict[str, Any]) -> str:
    """Evaluate ``States.Format('...', path, ...)`` with ``values`` for its paths (the intrinsic's semantics)."""
    match = FORMAT.match(expression)
    assert match, expression
    template, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
    assert template.count("{}") == len(args), expression
    for arg in args:
        template = template.replace("{}", str(values[arg]), 1)
    return template


def _plan(pipeline: Pipeline) -> dict[str, Any]:
    return plan_payload(
        lambda_config(pipeline),
        {},
        bucket="artifacts",
        execution_id="arn:aws:states:us-east-1:123456789012:execution:m:run-20260501T030000-abcdef",
        execution_name="run-20260501T030000-abcdef",
        started_at="2026-05-01T03:00:00.123Z",
        resolve=empty_registry,  # no champion yet, no data versions: the names do not depend on them
    )


def test_every_retried_sagemaker_job_gets_a_new_valid_name_per_attempt(pipelines: list[Pipeline]) -> None:
    """AWS rule: a training or processing job name "must be unique within an AWS Region in an AWS account" - also
    after the job failed (jobs cannot be deleted) - and is 1-63 characters of ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``.
    A Retry (or a redrive) re-sends the same Parameters, so the name must derive from something that changes per
    attempt: the context object's ``$$.State.RetryCount`` and ``$$.Execution.RedriveCount``.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html#sagemaker-CreateTrainingJob-request-TrainingJobName
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
    """
    seen = set()
    for pipeline in pipelines:
        plan = _plan(pipeline)
        for state in iter_states(compile_pipeline(pipeline).definition["States"]):
            field = SAGEMAKER_JOBS.get(state.get("Resource", ""))
            if field is None:
                continue
            seen.add(field)
            expression = state["Parameters"][f"{field}.$"]
            assert state["Retry"], f"{field}: a retried job"
            assert all(p in expression for p in PER_ATTEMPT), f"{field} is the same on every attempt: {expression}"
            paths = {
                p: plan["steps"][p.split(".")[3]][p.split(".")[4]] for p in re.findall(r"\$\.plan[\w.]+", expression)
            }
            for retry in (0, 1, 99):
                for redrive in (0, 999):
                    name = _render(expression, {**paths, PER_ATTEMPT[0]: retry, PER_ATTEMPT[1]: redrive})
                    assert JOB_NAME.match(name) and len(name) <= 63, name
    assert seen == set(SAGEMAKER_JOBS.values())


def test_a_retried_unload_writes_to_an_empty_prefix_and_the_commit_reads_that_one(pipelines: list[Pipeline]) -> None:
    """AWS rule: "The TO destination must specify a location in Amazon S3 that has no data. ... UNLOAD does not
    overwrite existing data", and "In the case of a failure, Athena does not attempt to delete orphaned data". A
    retried UNLOAD must therefore write to a location no earlier attempt wrote to, and the commit must read the one
    the successful attempt wrote (recorded in the task's result).
    https://docs.aws.amazon.com/athena/latest/ug/unload.html
    """
    for pipeline in pipelines:
        plan = _plan(pipeline)
        for name, state in named_states(compile_pipeline(pipeline).definition["States"]).items():
            if state.get("Resource") != "arn:aws:states:::athena:startQueryExecution.sync":
                continue
            assert state["Retry"]
            step = name.split(":")[0]
            expression = state["Parameters"]["QueryString.$"]
            assert all(p in expression for p in PER_ATTEMPT), expression
            paths = {p: plan["steps"][step][p.split(".")[4]] for p in re.findall(r"\$\.plan[\w.]+", expression)}
            locations = set()
            for retry, redrive in ((0, 0), (1, 0), (0, 1), (2, 1)):
                sql = _render(expression, {**paths, PER_ATTEMPT[0]: retry, PER_ATTEMPT[1]: redrive})
                (location,) = re.findall(r" TO '(s3://[^']+)'", sql)
                assert location.startswith(f"s3://artifacts/{plan['steps'][step]['attempt']}/unload/")
                locations.add(location)
                recorded = _render(
                    state["ResultSelector"]["unload.$"], {PER_ATTEMPT[0]: retry, PER_ATTEMPT[1]: redrive}
                )
                assert location.endswith(f"/unload/{recorded}/")  # what the commit reads
            assert len(locations) == 4


def test_only_a_missing_manifest_is_a_cache_miss(pipelines: list[Pipeline]) -> None:
    """AWS rule: GetObject on a missing key fails with ``NoSuchKey`` (the Step Functions error
    ``S3.NoSuchKeyException``); AccessDenied, throttling or a 5xx are other errors. Only the first means "not
    computed yet": the others must fail the step (with its failure notice), never read as a miss - which would
    recompute, or overwrite, what another run committed.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
    """
    for pipeline in pipelines:
        states = named_states(compile_pipeline(pipeline).definition["States"])
        for step in pipeline.steps:
            for check, miss in (("cache check", "lock"), ("recheck", None)):
                state = states[f"{step}: {check}"]
                misses = [c for c in state["Catch"] if c["Next"] != state["Catch"][-1]["Next"]]
                assert len(misses) == 1
                assert {e.lower() for e in misses[0]["ErrorEquals"]} == {"s3.nosuchkeyexception"}
                if miss:
                    assert misses[0]["Next"] == f"{step}: {miss}"
                last = state["Catch"][-1]
                assert last["ErrorEquals"] == ["States.ALL"] and last["ResultPath"] == "$.error"
                # the failure notice: directly, or through the end of the step's Parallel branch (its error kept
                # at $.error, reported by the Parallel state's "failed?" Choice)
                target = last["Next"]
                assert target in ("Notify failure", f"{step}: release lock (failed)") or (
                    states[target] == {"Type": "Pass", "End": True} and target.endswith(": failed")
                )
