"""The commit Lambda: writes a step's manifest last (the commit point), and two small helpers of the machine.

Actions (``event["action"]``):

* ``commit`` - finish a step's output in its attempt prefix and write ``<prefix>/_manifest.json`` with the schema
  of ``stepml/manifest.py`` (schema, pipeline, step, type, key, components, params, parents, code_digest, prefix,
  files, rows, summary, detail, run_id, started_at, finished_at, duration_s, versions). Per type: extract moves
  the UNLOAD files to ``data/part-NNNNN.parquet`` and enforces ``min_rows``; train reads ``metrics.json`` from
  SageMaker's ``model.tar.gz``; gate writes ``decision.json``; score sums the partitions' row counts; check
  reads ``report.json``.
* ``decide`` - the gate's comparison with the champion: ``steps.gate.decide``, the function the local runner uses.
* ``partition`` - the extract's files split into the spec's ``partitions`` (as locally), written as the JSON the
  Distributed Map reads: one ECS task per partition.

Errors raised here (``StepInputError``, ...) become the Lambda's ``errorType``, which the state machine's Catch
reports in the failure notification.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Mapping
from typing import Any

from stepml.cloud.handlers._config import load_config
from stepml.errors import StepExecutionError, StepInputError
from stepml.manifest import file_role, new_manifest
from stepml.plan import PlanInput, make_plan, partition_files


# ------------------------------------------------------------------ S3 helpers (client injected)
def list_objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        out.extend(page.get("Contents", []))
    return sorted(out, key=lambda o: str(o["Key"]))


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# ------------------------------------------------------------------ per-type finishing
def _finish_extract(s3: Any, bucket: str, step: str, attempt: str, task: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
    parts = [o for o in list_objects(s3, bucket, f"{attempt}/unload") if int(o.get("Size", 0)) > 0]
    for i, obj in enumerate(parts):
        s3.copy_object(
            Bucket=bucket, Key=f"{attempt}/data/part-{i:05d}.parquet", CopySource={"Bucket": bucket, "Key": obj["Key"]}
        )
    for obj in list_objects(s3, bucket, f"{attempt}/unload"):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    rows = ctx.query_rows(str(task.get("query_id", "")))
    min_rows = int(ctx.config["steps"][step].get("min_rows", 1))
    if not parts or (rows is not None and rows < min_rows):
        raise StepInputError(step, f"the extract returned {rows or 0} row(s); at least {min_rows} are required")
    return {"rows": rows, "summary": {"files": len(parts), "query_id": task.get("query_id")}}


def _finish_train(s3: Any, bucket: str, step: str, attempt: str, task: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
    model_uri = str(task["model_uri"])
    key = model_uri.removeprefix(f"s3://{bucket}/")
    metrics: dict[str, Any] | None = None
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.rsplit("/", 1)[-1] == "metrics.json" and (f := tar.extractfile(member)) is not None:
                metrics = json.loads(f.read())
    if metrics is None:
        raise StepExecutionError(step, f"{model_uri} has no metrics.json; the training container did not finish")
    return {
        "rows": int(metrics.get("n_train", 0)) + int(metrics.get("n_validation", 0)),
        "summary": {
            "metric": metrics["metric"],
            "value": metrics["value"],
            "metrics": metrics.get("metrics", {}),
            "model_uri": model_uri,
            "job_name": task.get("job_name"),
        },
    }


def _version(arn: str | None) -> int | None:
    tail = (arn or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _finish_gate(s3: Any, bucket: str, step: str, attempt: str, task: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
    train = ctx.upstream_of_type(step, "train")
    value = float(train["summary"]["value"])
    decision = task.get("decision", {})
    champion = task.get("champion", {})
    candidate = {
        "version": _version(task.get("candidate", {}).get("arn")),
        "arn": task.get("candidate", {}).get("arn"),
        "value": value,
        "train_key": train["key"],
        "uri": train["summary"]["model_uri"],
    }
    before = None
    if champion.get("present"):
        meta = champion.get("metadata", {})
        before = {
            "version": _version(champion.get("arn")),
            "arn": champion.get("arn"),
            "value": float(meta["value"]) if "value" in meta else None,
            "uri": champion.get("model_uri"),
        }
    passed = bool(decision.get("passed"))
    chosen = candidate if passed or before is None else before
    out = {
        "passed": passed,
        "reasons": list(decision.get("reasons", [])),
        "candidate": candidate,
        "champion_before": before,
        "model": {"version": chosen["version"], "uri": chosen["uri"], "value": chosen["value"], "arn": chosen["arn"]},
    }
    s3.put_object(Bucket=bucket, Key=f"{attempt}/decision.json", Body=json.dumps(out, indent=2).encode())
    verdict = f"promoted v{candidate['version']}" if passed else f"kept champion v{chosen['version']}"
    return {"rows": None, "summary": out, "detail": verdict}


def _finish_score(s3: Any, bucket: str, step: str, attempt: str, task: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
    rows = sum(int(read_json(s3, bucket, o["Key"])["rows"]) for o in list_objects(s3, bucket, f"{attempt}/stats"))
    data = list_objects(s3, bucket, f"{attempt}/data")
    gate = ctx.upstream_of_type(step, "gate", required=False)
    version = gate["summary"]["model"]["version"] if gate else None
    return {"rows": rows, "summary": {"model_version": version, "partitions": len(data)}}


def _finish_check(s3: Any, bucket: str, step: str, attempt: str, task: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
    report = read_json(s3, bucket, f"{attempt}/report.json")
    failed = report.get("summary", {}).get("failed", [])
    try:
        history = read_json(s3, bucket, f"{attempt}/history.json")
    except s3.exceptions.NoSuchKey:  # a check that wrote no metric history
        history = None
    return {
        "rows": report.get("rows"),
        "summary": {"status": report.get("status"), "failed": failed},
        "history": history,
    }


def publish_history(s3: Any, bucket: str, record: Mapping[str, Any], cloudwatch: Any) -> str:
    """After the check's commit: its metric-history record into ``<pipeline>/metrics/`` (where ``stepml alarms``
    and ``stepml report`` read it, as for a local run) and its datapoints to CloudWatch, where the alarms compiled
    from the spec watch them. (The ECS task's EMF lines are not turned into metrics: awslogs sends no EMF header.)
    """
    from monitoring.metrics import history_key, put_metrics

    key = history_key(str(record["pipeline"]), str(record["run_id"]), float(record["timestamp"]))
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(record, indent=2).encode())
    if cloudwatch is not None:
        put_metrics(cloudwatch, record)
    return key


_FINISH = {
    "extract": _finish_extract,
    "train": _finish_train,
    "gate": _finish_gate,
    "score": _finish_score,
    "check": _finish_check,
}


class CommitContext:
    """What finishing a step may ask: the embedded config, upstream results, an Athena/Redshift row count."""

    def __init__(self, config: Mapping[str, Any], results: Mapping[str, Any], query_client: Any = None) -> None:
        self.config = config
        self.results = results
        self.query_client = query_client

    def upstream_of_type(self, step: str, type_: str, *, required: bool = True) -> Any:
        for dep in self.config["steps"][step]["needs"]:
            if self.config["steps"][dep]["type"] == type_:
                return self.results[dep]
        if required:
            raise StepExecutionError(step, f"no {type_} upstream result in the execution state")
        return None

    def query_rows(self, query_id: str) -> int | None:
        if self.query_client is None or not query_id:
            return None
        try:
            if self.config["engine"] == "athena":
                stats = self.query_client.get_query_runtime_statistics(QueryExecutionId=query_id)
                return int(stats["QueryRuntimeStatistics"]["Rows"]["OutputRows"])
            rows = int(self.query_client.describe_statement(Id=query_id).get("ResultRows", -1))
            return rows if rows >= 0 else None
        except Exception:  # statistics are best effort; the files are the output
            return None


def commit(
    event: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    bucket: str,
    s3: Any,
    query_client: Any = None,
    cloudwatch: Any = None,
    clock: Any = time.time,
) -> dict[str, Any]:
    step = str(event["step"])
    plan_state = event["plan"]
    entry = plan_state["steps"][step]
    attempt = str(entry["attempt"])
    plan = make_plan(PlanInput.from_json(config["plan_input"]), plan_state["params"])
    planned = plan.step(step)
    if planned.key != entry["key"]:
        raise StepExecutionError(step, f"key mismatch: planned {entry['key']}, recomputed {planned.key}")
    ctx = CommitContext(config, event.get("results") or {}, query_client)
    result = _FINISH[planned.type](s3, bucket, step, attempt, event.get("task") or {}, ctx)
    files = []
    for obj in list_objects(s3, bucket, attempt):
        rel = str(obj["Key"])[len(attempt) + 1 :]
        files.append({"path": rel, "size": int(obj["Size"]), "role": file_role(rel)})
    manifest = new_manifest(
        plan,
        planned,
        prefix=attempt,
        files=files,
        rows=result.get("rows"),
        summary=result["summary"],
        detail=result.get("detail", ""),
        run_id=plan_state["run_id"],
        started=float(plan_state["now"]),
        finished=float(clock()),
        versions={"stepml": "cloud", "executor": "aws-stepfunctions"},
    )
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    s3.put_object(Bucket=bucket, Key=f"{entry['prefix']}/_manifest.json", Body=body)  # the commit point
    if result.get("history") is not None:  # committed: now the metrics may be seen
        publish_history(s3, bucket, result["history"], cloudwatch)
    return {"key": planned.key, "prefix": attempt, "summary": result["summary"], "run_id": plan_state["run_id"]}


def decide_event(event: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    from steps.gate import GateConfig, decide

    step = str(event["step"])
    gate = GateConfig(**config["steps"][step]["gate"])
    candidate = event["candidate"]
    champion = event.get("champion") or {}
    champion_value: float | None = None
    meta = champion.get("metadata") or {}
    is_champion = bool(champion.get("present")) and meta.get("train_key") == candidate.get("key")
    if champion.get("present") and not is_champion and "value" in meta:
        champion_value = float(meta["value"])
    decision = decide(float(candidate["summary"]["value"]), champion_value, gate, is_champion=is_champion)
    return {"passed": decision.passed, "reasons": decision.reasons}


def partition_event(event: Mapping[str, Any], config: Mapping[str, Any], *, bucket: str, s3: Any) -> dict[str, Any]:
    """Write ``<attempt>/partitions.json`` (one item per partition: ``{"index", "items": [{"key", "index"}]}``)
    from the extract's data files; the Distributed Map reads it with its ItemReader."""
    step = str(event["step"])
    files = [str(o["Key"]) for o in list_objects(s3, bucket, f"{event['source_prefix']}/data")]
    if not files:
        raise StepInputError(step, f"s3://{bucket}/{event['source_prefix']}/data/ has no files to score")
    index = {k: i for i, k in enumerate(files)}
    parts = partition_files(files, int(config["steps"][step]["partitions"]))
    items = [{"index": i, "items": [{"key": k, "index": index[k]} for k in part]} for i, part in enumerate(parts)]
    key = f"{event['attempt']}/partitions.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())
    return {"key": key, "count": len(items)}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    config = load_config()
    action = event.get("action")
    if action == "decide":
        return decide_event(event, config)
    import boto3

    if action == "partition":
        return partition_event(event, config, bucket=os.environ["ARTIFACT_BUCKET"], s3=boto3.client("s3"))

    engine_client = boto3.client("athena" if config["engine"] == "athena" else "redshift-data")
    return commit(
        event,
        config=config,
        bucket=os.environ["ARTIFACT_BUCKET"],
        s3=boto3.client("s3"),
        query_client=engine_client,
        cloudwatch=boto3.client("cloudwatch"),
    )
