"""Plan, commit (manifest, through each type's cloud facet), decide (gate) and notify (summary) handlers, against
moto S3 in-process."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from typing import Any

import boto3
import pytest

from stepml.cloud.bundle import lambda_config
from stepml.cloud.handlers.commit import commit, partition_event
from stepml.cloud.handlers.notify import run_record, summarize
from stepml.cloud.handlers.plan import plan_payload
from stepml.core.manifest import MANIFEST_SCHEMA, damaged_files, read_manifest
from stepml.core.plan import empty_registry
from stepml.core.runs import RunRecord
from stepml.errors import StepExecutionError, StepInputError
from stepml.spec import load_spec
from stepml.store import open_store
from steps.check.summary import from_report
from steps.gate.cloud import decide_event
from tests.conftest import ROOT
from tests.unit.conftest import BUCKET, planned


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return lambda_config(load_spec(ROOT / "pipeline.yaml"))


def _parquet(rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(rows))}), out)
    return out.getvalue()


def _plan(config: dict[str, Any]) -> dict[str, Any]:
    return planned(config)


def test_extract_commit_writes_a_manifest_the_local_store_reads(config: dict[str, Any], s3: Any) -> None:
    plan = _plan(config)
    entry = plan["steps"]["extract_train"]
    for name in ("20260501_0001", "20260501_0002"):  # Athena UNLOAD file names (no extension)
        s3.put_object(Bucket=BUCKET, Key=f"{entry['attempt']}/unload/0-1/{name}", Body=_parquet(600))
    # an earlier attempt's partial output (Athena leaves it), in its own location
    s3.put_object(Bucket=BUCKET, Key=f"{entry['attempt']}/unload/0-0/20260501_0001", Body=_parquet(7))
    out = commit(
        {"step": "extract_train", "plan": plan, "task": {"unload": "0-1"}, "results": {}},
        config=config,
        bucket=BUCKET,
        s3=s3,
    )
    assert out["key"] == entry["key"] and out["summary"]["files"] == 2
    store = open_store(f"s3://{BUCKET}", s3_client=s3)
    manifest = read_manifest(store, "job-matching", "extract_train", entry["key"])
    assert manifest is not None and manifest["schema"] == MANIFEST_SCHEMA
    assert [f["path"] for f in manifest["files"]] == ["data/part-00000.parquet", "data/part-00001.parquet"]
    assert damaged_files(store, manifest) == []
    assert manifest["components"]["step"] == "extract_train"
    assert manifest["rows"] == 1200  # counted from the footers of the successful attempt's files
    # and each file an AWS service wrote (no sha256: its writer records none) has the S3 ETag readers pin to
    for f in manifest["files"]:
        head = s3.head_object(Bucket=BUCKET, Key=f"{manifest['prefix']}/{f['path']}")
        assert "sha256" not in f and f["etag"] == head["ETag"].strip('"')


def test_an_extract_below_min_rows_is_a_step_input_error(config: dict[str, Any], s3: Any) -> None:
    plan = _plan(config)
    attempt = plan["steps"]["extract_train"]["attempt"]
    s3.put_object(Bucket=BUCKET, Key=f"{attempt}/unload/0-0/20260501_0001", Body=_parquet(3))
    with pytest.raises(StepInputError, match="3 row"):
        commit(
            {"step": "extract_train", "plan": plan, "task": {"unload": "0-0"}, "results": {}},
            config=config,
            bucket=BUCKET,
            s3=s3,
        )


def test_empty_extract_is_a_step_input_error(config: dict[str, Any], s3: Any) -> None:
    with pytest.raises(StepInputError, match="extract_train"):
        commit(
            {"step": "extract_train", "plan": _plan(config), "task": {}, "results": {}},
            config=config,
            bucket=BUCKET,
            s3=s3,
        )
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)  # no manifest


@pytest.mark.parametrize("with_history", [True, False])
def test_check_commit_files_and_publishes_the_metric_history(
    config: dict[str, Any], s3: Any, with_history: bool
) -> None:
    plan = _plan(config)
    attempt = plan["steps"]["check"]["attempt"]
    report = {"rows": 2000, "status": "pass", "checks": []}
    s3.put_object(Bucket=BUCKET, Key=f"{attempt}/report.json", Body=json.dumps(report))
    # what the check entry wrote beside it (stepml.entry): its result, the same the local run records
    s3.put_object(Bucket=BUCKET, Key=f"{attempt}/_results/result.json", Body=json.dumps(from_report(report)))
    record = {
        "schema": "stepml.metrics/1",
        "pipeline": "job-matching",
        "step": "check",
        "run_id": "run-1",
        "timestamp": dt.datetime.now(dt.UTC).timestamp(),
        "datapoints": [
            {
                "metric": "RowCount",
                "value": 2000.0,
                "unit": "Count",
                "dimensions": {"Pipeline": "job-matching", "Step": "check"},
            }
        ],
    }
    if with_history:
        s3.put_object(Bucket=BUCKET, Key=f"{attempt}/history.json", Body=json.dumps(record))
    cloudwatch = boto3.client("cloudwatch")
    out = commit(
        {"step": "check", "plan": plan, "task": {}, "results": {}},
        config=config,
        bucket=BUCKET,
        s3=s3,
        client={"cloudwatch": cloudwatch}.__getitem__,
    )
    # Then the manifest is committed, and with a history record: filed under metrics/ and sent to CloudWatch
    assert out["summary"] == {"status": "pass", "failed": [], "drift": None, "insufficient_data": []}
    filed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="job-matching/metrics/").get("Contents", [])]
    metrics = cloudwatch.list_metrics(Namespace="stepml")["Metrics"]
    if with_history:
        assert len(filed) == 1 and filed[0].endswith("-run-1.json")
        assert sorted(len(m["Dimensions"]) for m in metrics) == [1, 2]  # with and without Step
    else:
        assert filed == [] and metrics == []


def test_train_commit_reads_the_metrics_from_model_tar(config: dict[str, Any], s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})  # as the artifact bucket
    plan = _plan(config)
    entry = plan["steps"]["train"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = json.dumps({"metric": "roc_auc", "value": 0.81, "n_train": 80, "n_validation": 20}).encode()
        info = tarfile.TarInfo("metrics.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    key = f"{entry['attempt']}/job/output/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    task = {"model_uri": f"s3://{BUCKET}/{key}", "job_name": "job"}
    out = commit({"step": "train", "plan": plan, "task": task, "results": {}}, config=config, bucket=BUCKET, s3=s3)
    assert out["summary"]["value"] == 0.81 and out["summary"]["model"]["uri"] == task["model_uri"]
    expected = {"uri": task["model_uri"], "version": entry["key"], "value": 0.81, "digest": None, "name": None}
    assert out["summary"]["model"] == expected
    # and the manifest records SageMaker's model.tar.gz with its ETag, what its readers pin to
    store = open_store(f"s3://{BUCKET}", s3_client=s3)
    manifest = read_manifest(store, "job-matching", "train", entry["key"])
    assert manifest is not None
    (model,) = [f for f in manifest["files"] if f["path"] == "job/output/model.tar.gz"]
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert model["etag"] == head["ETag"].strip('"')
    # and, the bucket being versioned, the version committed: still readable after an overwrite
    assert model["version_id"] == head["VersionId"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"overwritten")
    kept = s3.get_object(Bucket=BUCKET, Key=key, VersionId=model["version_id"])["Body"].read()
    assert kept == buf.getvalue()


@pytest.mark.parametrize(
    ("champion", "passed"),
    [
        ({"present": False}, True),
        ({"present": True, "metadata": {"value": "0.80", "train_key": "old"}}, True),
        ({"present": True, "metadata": {"value": "0.90", "train_key": "old"}}, False),
    ],
)
def test_decide_uses_the_local_gate_rule(config: dict[str, Any], champion: dict[str, Any], passed: bool) -> None:
    candidate = {"key": "new", "summary": {"value": 0.85}}
    out = decide_event({"step": "gate", "candidate": candidate, "champion": champion}, config["steps"]["gate"])
    assert out["passed"] is passed and out["reasons"]


def test_decide_refuses_a_champion_other_than_the_planned_one(config: dict[str, Any]) -> None:
    """The champion is in the gate's key: a champion promoted by another run after this run was planned is an error,
    not a comparison under a key that names another champion."""
    candidate = {"key": "new", "summary": {"value": 0.85}}
    champion = {"present": True, "arn": "arn:g/2", "metadata": {"value": "0.80", "train_key": "old", "digest": "d2"}}
    planned = {"key": "k", "resolved": {"version": 1, "digest": "d1"}}
    event = {"step": "gate", "candidate": candidate, "champion": champion, "planned": planned}
    with pytest.raises(StepExecutionError, match="changed since this run was planned"):
        decide_event(event, config["steps"]["gate"])
    event["planned"] = {"key": "k", "resolved": {"version": 2, "digest": "d2"}}
    assert decide_event(event, config["steps"]["gate"])["passed"] is True
    # no champion planned, none found: as planned
    nothing = {"step": "gate", "candidate": candidate, "champion": {"present": False}, "planned": {"key": "k"}}
    assert decide_event(nothing, config["steps"]["gate"])["passed"] is True


def test_partition_assigns_files_like_the_local_runner(config: dict[str, Any], s3: Any) -> None:
    # Given 10 extract files and a score step with 4 partitions
    for i in range(10):
        s3.put_object(Bucket=BUCKET, Key=f"p/steps/extract_score/k/a/data/part-{i:05d}.parquet", Body=b"x")
    event = {
        "step": "score",
        "source_prefix": "p/steps/extract_score/k/a",
        "attempt": "p/steps/score/k2/a2",
        "partitions": 4,
    }
    # When the partition action runs
    out = partition_event(event, bucket=BUCKET, s3=s3)
    # Then the map's JSON holds 4 partitions with the local runner's strided assignment
    assert out == {"key": "p/steps/score/k2/a2/_partitions.json", "count": 4}
    items = json.loads(s3.get_object(Bucket=BUCKET, Key=out["key"])["Body"].read())
    assert [[int(f[-13:-8]) for f in p["files"]] for p in items] == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    assert [p["index"] for p in items] == [0, 1, 2, 3]


def test_partition_of_an_empty_extract_fails(config: dict[str, Any], s3: Any) -> None:
    event = {"step": "score", "source_prefix": "p/none", "attempt": "p/a", "partitions": 4}
    with pytest.raises(StepInputError):
        partition_event(event, bucket=BUCKET, s3=s3)


def _entered(name: str, minute: int) -> dict[str, Any]:
    return {
        "type": "TaskStateEntered",
        "timestamp": dt.datetime(2026, 5, 1, 3, minute, tzinfo=dt.UTC),
        "stateEnteredEventDetails": {"name": name},
    }


def _failed_training_history() -> list[dict[str, Any]]:
    """extract_train cached, extract_score ran, train failed at 03:09 (the execution started at 03:00)."""
    return [
        _entered("extract_train: cache check", 0),
        _entered("extract_train: cached", 0),
        _entered("extract_score: cache check", 1),
        _entered("extract_score: query", 1),
        _entered("extract_score: release lock", 3),
        _entered("train: cache check", 3),
        _entered("train: train", 4),
        {
            "type": "TaskFailed",
            "timestamp": dt.datetime(2026, 5, 1, 3, 9, tzinfo=dt.UTC),
            "taskFailedEventDetails": {"error": "States.TaskFailed", "cause": "AlgorithmError: boom"},
        },
        _entered("train: release lock (failed)", 9),
    ]


def test_notification_summary_says_cached_ran_failed() -> None:
    history = _failed_training_history()
    detail = {"status": "FAILED", "executionArn": "arn:x", "name": "run-1", "startDate": 0, "stopDate": 600_000}
    summary = summarize(
        "job-matching", ["extract_train", "extract_score", "train", "gate"], detail, history, "us-east-1"
    )
    statuses = {r.name: r.status for r in summary.steps}
    assert statuses == {"extract_train": "cached", "extract_score": "ran", "train": "failed", "gate": "not run"}
    assert "AlgorithmError: boom" in summary.message
    assert "after 10m 0s" in summary.message and ":(" in summary.message
    assert "console.aws.amazon.com/states" in summary.message
    assert summary.subject == "stepml job-matching: FAILED"


def test_run_record_has_the_plan_keys_and_the_history_statuses(config: dict[str, Any]) -> None:
    # Given a failed execution started by a schedule (its name has no start stamp)
    history = _failed_training_history()
    start = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)
    detail = {
        "status": "FAILED",
        "executionArn": "arn:x",
        "name": "5f0c-schedule",
        "startDate": start.timestamp() * 1000,
    }
    steps = [s["name"] for s in config["plan_input"]["steps"]]
    reports = summarize("job-matching", steps, detail, history, "us-east-1").steps
    record = run_record(config["plan_input"], {"score_days": "7"}, detail, reports, bucket=BUCKET)
    # Then it is a local-style run record: the keys the plan Lambda computed, the statuses the history shows
    assert record is not None
    planned = plan_payload(
        config,
        {"score_days": "7"},
        bucket=BUCKET,
        execution_id="arn:x",
        execution_name="x",
        started_at="2026-05-01",
        resolve=empty_registry,
    )
    loaded = RunRecord.from_json(record)
    assert loaded.run_id == "20260501T030000-5f0c-schedule" and loaded.status == "failed"
    assert loaded.params == planned["params"] and loaded.params["score_days"] == 7
    assert [(o.name, o.key) for o in loaded.steps] == [(n, planned["steps"][n]["key"]) for n in steps]
    assert {o.name: o.status for o in loaded.steps} == {
        "extract_train": "cached",
        "extract_score": "ran",
        "train": "failed",
        "gate": "skipped",
        "score": "skipped",
        "check": "skipped",
    }
    assert loaded.steps[2].error_type == "States.TaskFailed" and loaded.root == f"s3://{BUCKET}"
    # and a name that starts with a stamp (``stepml start``) is the run id as it is
    stamped = run_record(config["plan_input"], {}, detail | {"name": "20260501T030000-ab12cd"}, reports, bucket=BUCKET)
    assert stamped is not None and stamped["run_id"] == "20260501T030000-ab12cd"
    # and parameters that do not plan (the execution failed at its plan) give no record
    assert run_record(config["plan_input"], {"score_days": "many"}, detail, reports, bucket=BUCKET) is None
