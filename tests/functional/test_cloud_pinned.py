"""Files AWS services wrote - Athena's UNLOAD parquet, SageMaker's ``model.tar.gz`` - changed after their step
committed, even to bytes of the same size, are refused by the next step that reads them in the moto rig: never a
cache hit serving other bytes (issue 14, item 7; docs/aws-rules.md §30).

The commit records each file's S3 ETag (those files have no sha256: no process of ours wrote them). Tasks read
them with ``If-Match: <ETag>``: "Return the object only if its entity tag (ETag) is the same as the one specified
in this header; otherwise, return a 412 Precondition Failed error"
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). SageMaker's own download into the training
container cannot be pinned, so the container checks the channel against the extract's manifest: for an object
created by PutObject/CopyObject (unencrypted or SSE-S3, as the artifact bucket is) the ETag is the MD5 of its data
("Checking object integrity", https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from stepml.spec import load_spec
from tests.cloud_harness.rig import BUCKET, REGION, Rig

pytestmark = pytest.mark.slow


def _same_size_other_bytes(rig: Rig, key: str) -> bytes:
    """Overwrite ``key`` with its bytes but one flipped (the same size); the original bytes."""
    original: bytes = rig.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0xFF
    rig.s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(changed))
    assert rig.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(original)
    return original


def _recompute(rig: Rig, manifest: dict[str, Any]) -> str:
    """Remove a committed step's manifest (and head): the next execution recomputes it. Its step folder."""
    folder = str(manifest["prefix"]).rsplit("/", 1)[0]
    for name in ("_manifest.json", "_manifest.head.json"):
        rig.s3.delete_object(Bucket=BUCKET, Key=f"{folder}/{name}")
    return folder


def _failure(rig: Rig, folder: str) -> dict[str, Any]:
    """The failure a task of the step left in its attempt (``_results/failure*``)."""
    listed = rig.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{folder}/")["Contents"]
    keys = [o["Key"] for o in listed if "/_results/failure" in o["Key"]]
    assert keys, [o["Key"] for o in listed]
    return json.loads(rig.s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())  # type: ignore[no-any-return]


def test_an_unload_file_or_model_changed_after_commit_is_refused_by_the_scoring_tasks(make_pipeline, cloud) -> None:
    with cloud(load_spec(make_pipeline())) as rig:
        assert rig.run()["status"] == "SUCCEEDED"
        manifests = rig.manifests()
        (part, *_) = [f for f in manifests["extract_score"]["files"] if f["role"] == "data"]
        (model,) = [f for f in manifests["train"]["files"] if f["path"].endswith("model.tar.gz")]
        for f in (part, model):  # written by Athena and SageMaker: an ETag, no sha256
            assert "sha256" not in f and f["etag"]
        # Given one of extract_score's UNLOAD files overwritten with other bytes of the same size
        part_key = f"{manifests['extract_score']['prefix']}/{part['path']}"
        original = _same_size_other_bytes(rig, part_key)
        # When score recomputes while extract_score stays cached
        folder = _recompute(rig, manifests["score"])
        before = len(rig.worker.compute_calls())
        described = rig.run()
        # Then its task refuses the file with the named error: the step, the upstream, the file, the ETag expected
        assert described["status"] == "FAILED"
        assert {c.step for c in rig.worker.compute_calls()[before:]} == {"score"}  # extract_score was cached
        failure = _failure(rig, folder)
        assert failure["error"] == "InputChangedError" and failure["step"] == "score"
        assert f"s3://{BUCKET}/{part_key}" in failure["message"] and part["etag"] in failure["message"]
        assert "'extract_score'" in failure["message"]
        assert "score" not in rig.manifests() and rig.locks() == []
        # Given the file restored and the trained model.tar.gz overwritten alike (same size) instead
        rig.s3.put_object(Bucket=BUCKET, Key=part_key, Body=original)
        model_key = f"{manifests['train']['prefix']}/{model['path']}"
        _same_size_other_bytes(rig, model_key)
        for o in rig.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{folder}/").get("Contents", []):
            rig.s3.delete_object(Bucket=BUCKET, Key=o["Key"])  # the failed attempt's leftovers
        # Then the scoring tasks refuse the model before unpacking or unpickling it
        assert rig.run()["status"] == "FAILED"
        failure = _failure(rig, folder)
        assert failure["error"] == "InputChangedError" and failure["step"] == "score"
        assert f"s3://{BUCKET}/{model_key}" in failure["message"] and "'train'" in failure["message"]
        assert model["etag"] in failure["message"]


def test_a_training_channel_file_changed_after_the_extract_committed_fails_the_training_job(
    make_pipeline, cloud
) -> None:
    with cloud(load_spec(make_pipeline())) as rig:
        assert rig.run()["status"] == "SUCCEEDED"
        manifests = rig.manifests()
        (part, *_) = [f for f in manifests["extract_train"]["files"] if f["role"] == "data"]
        # Given one of extract_train's UNLOAD files overwritten with other bytes of the same size
        key = f"{manifests['extract_train']['prefix']}/{part['path']}"
        _same_size_other_bytes(rig, key)
        rig.notices()  # (the first run's)
        # When train recomputes while extract_train stays cached
        _recompute(rig, manifests["train"])
        before = len(rig.worker.compute_calls())
        described = rig.run()
        # Then the training container refuses what SageMaker downloaded: its manifest channel records another ETag
        assert described["status"] == "FAILED"
        assert "extract_train" not in {c.step for c in rig.worker.compute_calls()[before:]}  # cached
        (notice,) = rig.notices()
        assert json.loads(notice["Message"])["Error"] == "SageMaker.TrainingJobFailed"
        # with the InputChangedError in the job's log (what `stepml logs` shows; moto keeps no FailureReason): the
        # step, the upstream, the file and the ETag the manifest records
        logs = boto3.client("logs", region_name=REGION)
        events = logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs")["events"]
        refused = [e["message"] for e in events if "is not the object its manifest records" in e["message"]]
        assert refused, [e["message"] for e in events]
        assert refused[-1].startswith("stepml: step 'train': ") and key in refused[-1] and part["etag"] in refused[-1]
        assert "'extract_train'" in refused[-1]
        assert "train" not in rig.manifests() and rig.locks() == []
