"""Errors a Catch on ``States.ALL`` cannot catch never end an execution: the definition guards what could raise them.

AWS rule: "A retry or catch on ``States.ALL`` won't catch ``States.Runtime`` errors" - e.g. a JSONPath that selects
nothing (a missing ``$.params``, a champion package without ``CustomerMetadataProperties``). Such an error ends the
execution at once: the step's lock stays held and no failure notice is sent. So the states check first (Choice
``IsPresent``) and route a bad input to the failure path, which releases the lock and notifies.
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from stepml.cloud.handlers.models import group_name
from stepml.spec import load_spec
from tests.cloud_harness.rig import GROUP_PREFIX, REGION

pytestmark = pytest.mark.slow


def test_an_execution_without_params_fails_through_the_failure_path(make_pipeline, cloud) -> None:
    def required(raw: dict[str, Any]) -> None:
        raw["params"]["as_of"].pop("default")  # a parameter the run must be given

    pipeline = load_spec(make_pipeline(required))
    with cloud(pipeline) as rig:
        # When an execution is started with no "params" at all (the console's default input is {})
        started = rig.sfn.start_execution(stateMachineArn=rig.machine_arn, input="{}", name="no-params")
        described = rig.wait(started["executionArn"])
        notices = rig.notices()
        assert rig.locks() == []
    # Then it fails through the failure path: the plan's ParamError is published, not a States.Runtime
    assert described["status"] == "FAILED" and described["error"] == "stepml.RunFailed", described.get("error")
    (notice,) = notices
    assert json.loads(notice["Message"])["Error"] == "ParamError"


def test_a_champion_without_metadata_fails_the_gate_releases_the_lock_and_notifies(make_pipeline, cloud) -> None:
    pipeline = load_spec(make_pipeline())
    with cloud(pipeline) as rig:
        # Given an Approved package registered by hand, without CustomerMetadataProperties
        boto3.client("sagemaker", region_name=REGION).create_model_package(
            ModelPackageGroupName=group_name(GROUP_PREFIX, "job-matching"),
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [
                    {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://b/m"}
                ],
                "SupportedContentTypes": ["application/x-parquet"],
                "SupportedResponseMIMETypes": ["application/x-parquet"],
            },
        )
        described = rig.run()
        notices = rig.notices()
        locks = rig.locks()
        manifests = rig.manifests()
    # Then the gate fails through its failure path: lock released, the failure published, nothing downstream
    assert described["status"] == "FAILED" and described["error"] == "stepml.RunFailed", described.get("error")
    assert locks == []
    assert "gate" not in manifests and "score" not in manifests
    (notice,) = notices
    error = json.loads(notice["Message"])
    assert error["Error"] == "GateError" and "CustomerMetadataProperties" in error["Cause"]
