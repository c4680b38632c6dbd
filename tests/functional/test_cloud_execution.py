"""The compiled state machine executed by moto's Step Functions interpreter (in-process).

The definition is ``stepml.cloud.asl.compile_definition`` with its placeholders resolved to moto resources, changed
only by ``tests.cloud_harness.transform.for_moto`` (compute and Lambda tasks handed to a worker that runs the very
entrypoints AWS runs; waits shortened). Cache checks, locks, Choice states, the Distributed Map, Retry/Catch and
the SNS notification run as generated. See docs/cloud-testing.md.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import boto3
import pytest

import stepml
from stepml.cloud.handlers.models import group_name
from stepml.core import manifest as mf
from stepml.local.runner import LocalRunner, load_run
from stepml.spec import load_spec
from stepml.store import open_store
from tests.cloud_harness.rig import GROUP_PREFIX, REGION, Rig, failures
from tests.cloud_harness.transform import without_locks
from tests.cloud_harness.worker import INJECTED

STEPS = ["extract_train", "extract_score", "train", "gate", "score", "check"]
COMPUTE = {"extract_train": 1, "extract_score": 1, "train": 1, "score": 4, "check": 1}  # jobs per fresh run
pytestmark = pytest.mark.slow


def _statuses(rig: Rig, described: dict[str, Any]) -> dict[str, str]:
    assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"])[-3:], default=str)
    results = rig.output(described)["results"]
    return {s: results[s]["status"] for s in STEPS}


def _per_step(calls: list[Any]) -> Counter[str]:
    return Counter(c.step for c in calls)


def _data_files(manifest: dict[str, Any]) -> list[str]:
    return sorted(f["path"] for f in manifest["files"] if f["role"] == "data")


def test_fresh_execution_runs_every_step_like_a_local_run(make_pipeline, cloud) -> None:
    pipeline = load_spec(make_pipeline())
    with cloud(pipeline) as rig:
        # When a fresh execution runs
        described = rig.run({"score_days": 30})
        rig.notify(described["executionArn"])  # the status-change rule: the summary, and the run's record
        # Then every step ran, each compute job once, every manifest is committed and no lock is left
        assert _statuses(rig, described) == dict.fromkeys(STEPS, "ran")
        assert _per_step(rig.worker.compute_calls()) == COMPUTE
        cloud_manifests = rig.manifests()
        assert sorted(cloud_manifests) == sorted(STEPS)
        assert rig.locks() == []
        for m in cloud_manifests.values():
            assert m["schema"] == mf.MANIFEST_SCHEMA and m["run_id"] == described["name"]
            for f in m["files"]:
                head = rig.s3.head_object(Bucket=rig.values["ArtifactBucket"], Key=f"{m['prefix']}/{f['path']}")
                assert head["ContentLength"] == f["size"]
    # and a local run of the same spec and parameters has the same keys, row counts and data files
    store = open_store(str(pipeline.base_dir / "local-artifacts"))
    record = LocalRunner(pipeline, store).run({"score_days": 30})
    local = {o.name: mf.read_manifest(store, pipeline.name, o.name, o.key) for o in record.steps}
    for step in STEPS:
        cloud_m, local_m = cloud_manifests[step], local[step]
        assert local_m is not None
        assert cloud_m["key"] == local_m["key"], step
        assert cloud_m["rows"] == local_m["rows"], step
        assert cloud_m["params"] == local_m["params"], step
        if step != "train":  # SageMaker packs the model as model.tar.gz; locally it is a directory
            assert _data_files(cloud_m) == _data_files(local_m), step
    # and the check task checked what the local check did: drift against the serving model's profile included
    s3_store = open_store(f"s3://{rig.values['ArtifactBucket']}", s3_client=rig.s3)
    cloud_report = stepml.load("check", run=described["name"], spec=pipeline.base_dir / "pipeline.yaml", store=s3_store)
    local_report = stepml.load("check", run=record.run_id, spec=pipeline.base_dir / "pipeline.yaml", store=store)
    assert cloud_report["run"]["run_id"] == described["name"] and cloud_report["run"]["pipeline"] == pipeline.name
    assert [(c["name"], c.get("column"), c["status"]) for c in cloud_report["checks"]] == [
        (c["name"], c.get("column"), c["status"]) for c in local_report["checks"]
    ]
    assert cloud_report["drift"]["columns"] and cloud_report["drift"] == local_report["drift"]
    assert cloud_report["metrics"] == local_report["metrics"]
    # and the committed check's metrics reached CloudWatch, where the spec's alarms watch them, and the metric
    # history beside the local one's (what `stepml alarms` evaluates)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for metric, dims in (("RowCount", {"Pipeline": pipeline.name}), ("MaxNullFraction", {"Pipeline": pipeline.name})):
        got = cloudwatch.get_metric_statistics(
            Namespace="stepml",
            MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
            Period=3600,
            Statistics=["Maximum"],
        )["Datapoints"]
        expected = next(m["value"] for m in cloud_report["metrics"] if m["metric"] == metric)
        assert [d["Maximum"] for d in got] == [pytest.approx(expected)], metric
    (history,) = [k for k in s3_store.list(f"{pipeline.name}/metrics") if k.endswith(f"-{described['name']}.json")]
    assert json.loads(s3_store.read_bytes(history))["run_id"] == described["name"]


def test_second_execution_hits_the_cache_and_runs_no_compute(make_pipeline, cloud) -> None:
    spec = make_pipeline()
    with cloud(load_spec(spec)) as rig:
        first = rig.run()
        assert set(_statuses(rig, first).values()) == {"ran"}
        before = len(rig.worker.calls)
        # When the same parameters run again
        second = rig.run()
        # Then every step is a cache hit and the worker got no compute job (only the Plan Lambda was called)
        assert _statuses(rig, second) == dict.fromkeys(STEPS, "cached")
        assert [c.state for c in rig.worker.calls[before:]] == ["Plan"]
        # by the fast path: the plan found every step committed, no step's state ran (a constant cost)
        events = rig.sfn.get_execution_history(executionArn=second["executionArn"], maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        assert entered == ["Input", "Plan", "All cached?", "All cached", "Succeeded"], entered
        assert rig.notify(second["executionArn"])["steps"] == dict.fromkeys(STEPS, "cached")
        # (names without a start stamp, as schedules give, are stamped so run ids sort by start time)
        assert rig.notify(first["executionArn"])["run_id"] == f"{first['startDate']:%Y%m%dT%H%M%S}-{first['name']}"
        # and a notebook reads either production run from the bucket by its execution name
        store = open_store(f"s3://{rig.values['ArtifactBucket']}", s3_client=rig.s3)
        runs = {r: load_run(store, rig.pipeline.name, r) for r in (first["name"], second["name"])}
        assert {r: rec.status if rec else None for r, rec in runs.items()} == dict.fromkeys(runs, "succeeded")
        assert [(o.name, o.status) for o in runs[second["name"]].steps] == [(s, "cached") for s in STEPS]  # type: ignore[union-attr]
        report = stepml.load("check", run=second["name"], spec=spec, store=store)
        predictions = stepml.load("score", run=first["name"], spec=spec, store=store)
        assert report["run"]["run_id"] == first["name"]  # the check the second run reused
        assert report["rows"] == len(predictions) == rig.manifests()["score"]["rows"]


def _race(rig: Rig) -> list[dict[str, Any]]:
    rig.worker.rendezvous["extract_train: query"] = 3.0  # hold the first job until both runs could ask for it
    executions = [rig.start(name="racer-a"), rig.start(name="racer-b")]
    return [rig.wait(e, timeout=180) for e in executions]


def test_two_concurrent_executions_compute_each_step_once(make_pipeline, cloud) -> None:
    with cloud(load_spec(make_pipeline())) as rig:
        a, b = _race(rig)
        # Then both succeed, each compute job ran once in all, and for each step one run computed, one reused
        per_run = [_statuses(rig, a), _statuses(rig, b)]
        assert _per_step(rig.worker.compute_calls()) == COMPUTE
        for step in STEPS:
            assert sorted(run[step] for run in per_run) == ["cached", "ran"], step
        assert rig.locks() == []


def test_without_the_lock_states_concurrent_executions_compute_twice(make_pipeline, cloud) -> None:
    """The concurrency test can fail: remove the lock states and the same race computes a step twice."""
    with cloud(load_spec(make_pipeline()), transform=without_locks) as rig:
        _race(rig)
        assert _per_step(rig.worker.compute_calls())["extract_train"] == 2


def test_a_failing_gate_keeps_the_champion_and_notifies(make_pipeline, cloud) -> None:
    spec = make_pipeline()
    # Given a first run that promoted a champion (version 1)
    with cloud(load_spec(spec)) as rig:
        first = rig.run()
        assert _statuses(rig, first)["gate"] == "ran"
        champion_value = rig.output(first)["results"]["gate"]["summary"]["model"]["value"]

    # When a weaker candidate (3 boosting rounds instead of 20) meets a gate whose threshold is out of reach
    def weaker_and_strict(raw: dict[str, Any]) -> None:
        raw["model"]["hyperparameters"]["max_iter"] = 3
        raw["steps"]["gate"].update(min_value=0.999)

    strict = make_pipeline(weaker_and_strict, workdir=spec.parent / "strict")
    with cloud(load_spec(strict), name="strict") as rig:
        described = rig.run()
        statuses = _statuses(rig, described)
        gate = rig.output(described)["results"]["gate"]["summary"]
        summary = rig.notify(described["executionArn"])
        notices = rig.notices()
    # Then the candidate is rejected on both counts (the champion's metric read back from the model registry),
    # the champion scores, and the topic gets the run's summary
    value = gate["candidate"]["value"]
    assert statuses["gate"] == "ran" and statuses["score"] == "ran"
    assert gate["passed"] is False and value < champion_value
    assert gate["reasons"] == [
        f"roc_auc={value:.4f} is not at least the threshold 0.9990",
        f"roc_auc={value:.4f} does not beat the champion's {champion_value:.4f}",
    ]
    assert gate["model"]["version"] == 1 and gate["candidate"]["version"] == 2
    approved = boto3.client("sagemaker", region_name=REGION).list_model_packages(
        ModelPackageGroupName=group_name(GROUP_PREFIX, "job-matching"), ModelApprovalStatus="Approved"
    )["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"].rsplit("/", 1)[-1] for p in approved] == ["1"]
    assert summary["steps"]["gate"] == "ran"
    assert [n["Subject"] for n in notices] == [f"stepml {load_spec(strict).name}: SUCCEEDED"]


def test_a_failing_step_retries_then_is_caught_notifies_and_fails(make_pipeline, cloud) -> None:
    pipeline = load_spec(make_pipeline())  # train: resources.retries = 1
    with cloud(pipeline) as rig:
        rig.worker.faults["train: train"] = 5
        described = rig.run()
        notices = rig.notices()
        # Then the training job ran 1 + retries times, the run failed, the lock is released, nothing downstream ran
        assert described["status"] == "FAILED" and described["error"] == "stepml.RunFailed"
        assert _per_step(rig.worker.compute_calls()) == {"extract_train": 1, "extract_score": 1, "train": 2}
        assert rig.locks() == []
        assert "train" not in rig.manifests() and "gate" not in rig.manifests()
    # and the topic got the failure with the step's error
    (notice,) = notices
    assert notice["Subject"] == f"stepml {pipeline.name}: run failed"
    assert json.loads(notice["Message"])["Error"] == INJECTED


def test_a_manifest_pointing_outside_its_step_is_not_a_cache_hit(make_pipeline, cloud) -> None:
    spec = make_pipeline()
    with cloud(load_spec(spec)) as rig:
        first = rig.run()
        assert set(_statuses(rig, first).values()) == {"ran"}
        manifests = rig.manifests()
        bucket = rig.values["ArtifactBucket"]
        # the score manifest now names the train step's attempt folder as its output
        bad = {**manifests["score"], "prefix": manifests["train"]["prefix"]}
        # (its head too: the head is what the cache check reads)
        mf.write_manifest(lambda key, body: rig.s3.put_object(Bucket=bucket, Key=key, Body=body), bad)
        second = rig.run()
        statuses = _statuses(rig, second)
        assert statuses["score"] == "ran" and statuses["train"] == "cached"
