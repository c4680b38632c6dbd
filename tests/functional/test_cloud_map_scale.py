"""A partitioned step at scale in the moto rig: 1,000 partitions as one Distributed Map (the real task adapter,
a trivial user function over one-row files), its results written to S3 by the Map's ResultWriter and read there
by the commit Lambda; payloads under the Step Functions limit; file digests recorded in AWS and checked by the
task that reads them.

moto enforces neither the 256 KiB state payload limit nor the 8,192 characters of ECS overrides, so these tests
measure them: every event of the execution history, every RunTask call the worker received.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from stepml.spec import load_spec
from tests.cloud_harness.rig import Rig, failures
from tests.functional.test_user_steps import user_project

pytestmark = pytest.mark.slow
PAYLOAD_LIMIT = 256 * 1024  # https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
OVERRIDES_LIMIT = 8192  # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html
IDS_SQL = "SELECT invitation_id FROM invitations ORDER BY invitation_id LIMIT {rows}\n"


def _project(tmp_path: Path, sample_warehouse: Path, *, rows: int, partitions: int, concurrency: int) -> Path:
    steps = {
        "invitations": {"type": "extract", "sql": "sql/ids.sql", "rows_per_file": 1},  # one file per row
        "parts": {
            "type": "python",
            "function": "myproj.parts:count",  # the row(s) of its partition, with the partition's index
            "needs": ["invitations"],
            "inputs": {"raw": "invitations"},
            "partitions": partitions,
            "partition_by": "invitations",
            "max_concurrency": concurrency,
        },
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    (spec.parent / "sql" / "ids.sql").write_text(IDS_SQL.format(rows=rows))
    return spec


def _history(rig: Rig, execution: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
    while True:
        page = rig.sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _largest_payload(rig: Rig, execution: str) -> tuple[int, str]:
    """The largest state input or output of the execution (UTF-8 bytes) and the state it belongs to."""
    largest, where, state = 0, "", ""
    for e in _history(rig, execution):
        for details in (v for k, v in e.items() if k.endswith("EventDetails") and isinstance(v, dict)):
            state = details.get("name", state)
            for field in ("input", "output"):
                size = len(str(details.get(field) or "").encode())
                if size > largest:
                    largest, where = size, f"{state} {e['type']} {field}"
    return largest, where


def _read(rig: Rig, key: str) -> Any:
    return json.loads(rig.s3.get_object(Bucket=rig.values["ArtifactBucket"], Key=key)["Body"].read())


def test_a_thousand_partitions_run_as_one_map_whose_results_the_commit_reads_from_s3(
    tmp_path, sample_warehouse, cloud, monkeypatch
) -> None:
    spec = _project(tmp_path, sample_warehouse, rows=1000, partitions=1000, concurrency=100)
    monkeypatch.syspath_prepend(str(spec.parent))  # the image holds the project's code (Dockerfile)
    pipeline = load_spec(spec)
    with cloud(pipeline) as rig:
        # When an execution runs the 1,000 partitions
        described = rig.wait(rig.start({}), timeout=1800)  # ~3 min on an idle machine
        assert described["status"] == "SUCCEEDED", json.dumps(
            failures(rig, described["executionArn"])[-3:], default=str
        )
        manifest = rig.manifests()["parts"]
        # Then each partition ran once, as an ECS task whose overrides stayed under RunTask's 8,192 characters
        tasks = [c for c in rig.worker.compute_calls() if c.resource.endswith("runTask.sync")]
        served = {
            e["Value"]
            for c in tasks
            for e in c.parameters["Overrides"]["ContainerOverrides"][0]["Environment"]
            if e["Name"] == "STEPML_PARTITION"
        }
        assert served == {str(i) for i in range(1000)}  # (a message the rig's queue delivered twice may add a call)
        longest = max(len(json.dumps(c.parameters["Overrides"], separators=(",", ":"))) for c in tasks)
        assert longest < OVERRIDES_LIMIT
        # and the Map Run's results are in S3, where the commit read every partition's success from
        listed = rig.s3.list_objects_v2(Bucket=rig.values["ArtifactBucket"], Prefix=f"{pipeline.name}/map-runs/parts/")
        (map_manifest,) = [o["Key"] for o in listed["Contents"] if o["Key"].endswith("/manifest.json")]
        run = _read(rig, map_manifest)
        succeeded = [r for f in run["ResultFiles"]["SUCCEEDED"] for r in _read(rig, f["Key"])]
        assert sorted(json.loads(r["Output"]) for r in succeeded) == list(range(1000))
        assert run["ResultFiles"]["FAILED"] == []
        assert manifest["rows"] == 1000 and len(manifest["summary"]["partition_metrics"]) == 1000
        # and every file a task wrote has its sha256 in the manifest (recorded by the task, not read back)
        data = [f for f in manifest["files"] if f["role"] == "data"]
        assert len(data) == 1000 and all(len(f.get("sha256", "")) == 64 for f in data)
        body = rig.s3.get_object(Bucket=rig.values["ArtifactBucket"], Key=f"{manifest['prefix']}/{data[7]['path']}")
        assert hashlib.sha256(body["Body"].read()).hexdigest() == data[7]["sha256"]
        # and no state's input or output came near 256 KiB
        largest, where = _largest_payload(rig, described["executionArn"])
        assert largest < PAYLOAD_LIMIT / 4, where
        # When the next execution finds it all cached (a manifest of thousands of files: ~200 bytes each)
        step_dir = manifest["prefix"].rsplit("/", 1)[0]
        stored = rig.s3.head_object(Bucket=rig.values["ArtifactBucket"], Key=f"{step_dir}/_manifest.json")
        assert stored["ContentLength"] > PAYLOAD_LIMIT  # what a getObject of the manifest would put in the state
        again = rig.run({})
        assert again["status"] == "SUCCEEDED"
        assert {s["status"] for s in rig.output(again)["results"].values()} == {"cached"}
        # Then its cache checks read the manifest's head, never the file list
        largest, where = _largest_payload(rig, again["executionArn"])
        assert largest < PAYLOAD_LIMIT / 4, where


def test_a_failed_partition_is_never_committed(tmp_path, sample_warehouse, cloud, monkeypatch) -> None:
    spec = _project(tmp_path, sample_warehouse, rows=6, partitions=6, concurrency=3)
    monkeypatch.syspath_prepend(str(spec.parent))
    pipeline = load_spec(spec)
    with cloud(pipeline) as rig:
        rig.worker.faults["parts: run task"] = 1  # one partition's task fails
        described = rig.run({})
        # Then the step is not committed: the Map Run's results name a failed partition, the lock is released,
        # the failure is notified and the execution fails
        assert described["status"] == "FAILED"
        assert "parts" not in rig.manifests() and rig.locks() == []
        (notice,) = rig.notices()
        assert json.loads(notice["Message"])["Error"] == "StepExecutionError"  # the commit refused it
        failed = [f for f in failures(rig, described["executionArn"]) if "taskFailedEventDetails" in f]
        assert (failed[-1]["state"], failed[-1]["taskFailedEventDetails"]["error"]) == (
            "parts: commit",
            "StepExecutionError",
        )
        listed = rig.s3.list_objects_v2(Bucket=rig.values["ArtifactBucket"], Prefix=f"{pipeline.name}/map-runs/parts/")
        (map_manifest,) = [o["Key"] for o in listed["Contents"] if o["Key"].endswith("/manifest.json")]
        (failed_file,) = _read(rig, map_manifest)["ResultFiles"]["FAILED"]  # moto itself let the Map succeed
        assert len(_read(rig, failed_file["Key"])) == 1


def test_a_same_size_corrupted_upstream_file_is_refused_by_the_task_that_reads_it(
    tmp_path, sample_warehouse, cloud, monkeypatch
) -> None:
    steps = {
        "invitations": {"type": "extract", "sql": "sql/scoring_set.sql", "rows_per_file": 500},
        "features": {
            "type": "python",
            "function": "myproj.parts:count",
            "needs": ["invitations"],
            "inputs": {"raw": "invitations"},
        },
        "parts": {
            "type": "python",
            "function": "myproj.parts:count",
            "needs": ["features"],
            "inputs": {"raw": "features"},
            "partitions": 2,
            "partition_by": "features",
        },
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    monkeypatch.syspath_prepend(str(spec.parent))
    pipeline = load_spec(spec)
    bucket = "stepml-artifacts"
    with cloud(pipeline) as rig:
        assert rig.run({})["status"] == "SUCCEEDED"
        manifests = rig.manifests()
        features, parts = manifests["features"], manifests["parts"]
        (data,) = [f for f in features["files"] if f["role"] == "data"]
        assert len(data["sha256"]) == 64  # recorded in AWS, by the task that wrote it
        # Given one of features' files changed in place, to one of the same size
        key = f"{features['prefix']}/{data['path']}"
        body = bytearray(rig.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        body[len(body) // 2] ^= 0xFF
        rig.s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
        assert rig.s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == data["size"]
        # When parts recomputes (its output removed) while features stays cached
        step_dir = parts["prefix"].rsplit("/", 1)[0]
        for name in ("_manifest.json", "_manifest.head.json"):
            rig.s3.delete_object(Bucket=bucket, Key=f"{step_dir}/{name}")
        described = rig.run({})
        # Then its tasks refuse the file with an InputChangedError (a StepInputError) naming the step and the file
        # - their GET pinned to the ETag the commit recorded is refused before the sha256 is even computed; nothing
        # is committed
        assert described["status"] == "FAILED"
        listed = rig.s3.list_objects_v2(Bucket=bucket, Prefix=f"{step_dir}/")["Contents"]
        failures_ = [o["Key"] for o in listed if "/_results/failure" in o["Key"]]
        assert failures_
        failure = json.loads(rig.s3.get_object(Bucket=bucket, Key=failures_[0])["Body"].read())
        assert failure["error"] == "InputChangedError" and failure["step"] == "parts"
        assert f"s3://{bucket}/{key}" in failure["message"] and data["etag"] in failure["message"]
        assert rig.locks() == [] and rig.notices()  # released and notified
