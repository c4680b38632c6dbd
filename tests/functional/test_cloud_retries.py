"""Retries that AWS lets succeed: in the moto rig, whose worker enforces what the services check when a job starts
(a SageMaker job name is taken for good; an Athena UNLOAD needs an empty location). See docs/aws-rules.md 5, 6."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from stepml.spec import load_spec
from tests.cloud_harness.rig import failures

pytestmark = pytest.mark.slow


def test_a_retried_unload_and_a_retried_training_job_succeed(make_pipeline, cloud) -> None:
    """AWS rules: a SageMaker job name "must be unique within an AWS Region in an AWS account" (also a failed job's),
    and an Athena UNLOAD's "TO destination must specify a location in Amazon S3 that has no data" while "in the
    case of a failure, Athena does not attempt to delete orphaned data". So each retry needs a new job name and a
    new UNLOAD location, and the commit must keep only what the successful attempt wrote.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html#sagemaker-CreateTrainingJob-request-TrainingJobName
    https://docs.aws.amazon.com/athena/latest/ug/unload.html
    """

    def retried(raw: dict[str, Any]) -> None:
        raw["steps"]["extract_train"]["resources"] = {"retries": 1}

    pipeline = load_spec(make_pipeline(retried))  # train: resources.retries = 1 already
    with cloud(pipeline) as rig:
        # Given a first UNLOAD that fails after writing a partial file, and a first training job that fails
        rig.worker.faults.update({"extract_train: query": 1, "train: train": 1})
        described = rig.run()
        assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"]), default=str)
        calls = rig.worker.compute_calls()
        manifests = rig.manifests()
        data = [f["path"] for f in manifests["extract_train"]["files"] if f["role"] == "data"]
        leftovers = rig.s3.list_objects_v2(
            Bucket="stepml-artifacts", Prefix=f"{manifests['extract_train']['prefix']}/unload/"
        )
    # Then each was retried once, under a new name / into a new location
    assert Counter(c.step for c in calls)["extract_train"] == 2 and Counter(c.step for c in calls)["train"] == 2
    names = [c.parameters["TrainingJobName"] for c in calls if c.step == "train"]
    assert len(set(names)) == 2 and all(n.endswith(f"-0-{i}") for i, n in enumerate(names))
    # and the committed extract holds the successful attempt's files only (the partial one is gone)
    assert data and all(p.startswith("data/part-") for p in data)
    assert manifests["extract_train"]["rows"] > 100
    assert leftovers.get("KeyCount", 0) == 0


def test_an_extract_below_min_rows_fails_in_aws_releases_the_lock_and_notifies(make_pipeline, cloud) -> None:
    """AWS rule: Athena's row statistics (``GetQueryRuntimeStatistics`` ``Rows.OutputRows``) "are updated
    asynchronously and may not be available immediately after a query completes or, in some cases, may not be
    returned" - so ``min_rows`` cannot rest on them; the commit counts the rows of the parquet files the UNLOAD
    wrote (their footers) and enforces it. The rig's Athena answers with the timeline only, as AWS may.
    https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryRuntimeStatistics.html
    """

    def too_few(raw: dict[str, Any]) -> None:
        raw["steps"]["extract_train"]["min_rows"] = 10**7

    pipeline = load_spec(make_pipeline(too_few))
    with cloud(pipeline) as rig:
        described = rig.run()
        notices = rig.notices()
        assert described["status"] == "FAILED" and described["error"] == "stepml.RunFailed"
        assert rig.locks() == []
        assert "extract_train" not in rig.manifests() and "train" not in rig.manifests()
    (notice,) = notices
    error = json.loads(notice["Message"])
    assert error["Error"] == "StepInputError", error
