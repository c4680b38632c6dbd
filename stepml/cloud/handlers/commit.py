"""The commit Lambda: finishes a step's output and writes its manifest last (the commit point).

Actions (``event["action"]``):

* ``commit`` - the step type's cloud facet finishes the output in its attempt prefix (``finish``: rename an
  UNLOAD's files, read a model's metrics, merge the partitions' results...) and returns its rows, summary and
  detail; then the manifest (``stepml.core.manifest.new_manifest``, the builder the local runner uses) is written
  to ``<prefix>/_manifest.json`` - every file with its size, its S3 ETag as listed (and version id, in a
  versioned bucket), and the sha256 its writing process recorded if it did; then the facet's ``committed`` hook runs, if it has one.
* ``stage`` - a Processing job's environment written to S3 (its own values are limited to 256 characters).
* ``partition`` - a partitioned step's input files split into its partitions (``stepml.core.plan.partition_files``,
  as locally), written as the JSON the Distributed Map reads: one task per partition; its ResultWriter writes the
  Map Run's results to ``<pipeline>/map-runs/<step>/``, which ``commit`` reads (every partition must have succeeded).
* anything else - an action of the step type's cloud facet (``ACTIONS``: e.g. the gate's ``decide``).

Errors raised here (``StepInputError``, ...) become the Lambda's ``errorType``, which the state machine's Catch
reports in the failure notification.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from stepml.cloud.handlers._config import load_config, type_facet
from stepml.cloud.handlers.context import PARTITIONS, FinishContext
from stepml.core.manifest import DIGESTS, file_role, new_manifest, write_manifest
from stepml.core.plan import PlanInput, make_plan, partition_files, recorded
from stepml.errors import StepExecutionError, StepInputError

EXECUTOR = {"name": "aws-stepfunctions"}


def commit(
    event: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    bucket: str,
    s3: Any,
    client: Any = None,
    clock: Any = time.time,
) -> dict[str, Any]:
    step = str(event["step"])
    plan_state = event["plan"]
    entry = plan_state["steps"][step]
    attempt = str(entry["attempt"])
    resolved = {n: e.get("resolved") for n, e in plan_state["steps"].items()}
    # the plan's parameters are concrete (run-date expressions evaluated); its steps are those the run wants
    pinput = PlanInput.from_json(config["plan_input"])
    plan = make_plan(pinput, plan_state["params"], recorded(resolved), targets=list(plan_state["steps"]))
    planned = plan.step(step)
    if planned.key != entry["key"]:
        raise StepExecutionError(step, f"key mismatch: planned {entry['key']}, recomputed {planned.key}")
    ctx = FinishContext(
        step=planned,
        plan=plan,
        settings=config["steps"][step],
        config=config,
        bucket=bucket,
        attempt=attempt,
        task=event.get("task") or {},
        results=event.get("results") or {},
        s3=s3,
        client=client or _clients,
        run_id=str(plan_state["run_id"]),
    )
    facet = type_facet(config, step)
    result = facet.finish(ctx)
    files = []
    objects = ctx.objects(attempt)
    digests = recorded_digests(ctx, objects)
    version_ids = current_versions(ctx)
    for obj in objects:
        rel = str(obj["Key"])[len(attempt) + 1 :]
        if rel.startswith(f"{DIGESTS}/"):  # bookkeeping: what they hold is in the manifest itself
            continue
        entry = {"path": rel, "size": int(obj["Size"]), "role": file_role(rel)}
        if rel in digests:
            entry["sha256"] = digests[rel]
        if obj.get("ETag"):  # what readers pin their GETs to (If-Match): for AWS-written files the only record
            entry["etag"] = str(obj["ETag"]).strip().strip('"')
        if version_ids.get(str(obj["Key"]), ("", ""))[1] == obj.get("ETag"):
            entry["version_id"] = version_ids[str(obj["Key"])][0]
        files.append(entry)
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
        versions={"stepml": "cloud"},
        executor=EXECUTOR,
    )
    write_manifest(lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body), manifest)  # the commit point
    if hasattr(facet, "committed"):
        facet.committed(ctx, manifest)
    return {"key": planned.key, "prefix": attempt, "summary": result["summary"], "run_id": plan_state["run_id"]}


def recorded_digests(ctx: FinishContext, objects: list[dict[str, Any]]) -> dict[str, str]:
    """The sha256 of the attempt's files that the processes which wrote them recorded (``_digests/*.json``, written
    by the task adapter beside its outputs): the manifest records them without reading the data. A file whose
    writer records none (an UNLOAD's parquet, SageMaker's ``model.tar.gz``) has its size and its S3 ETag (from the
    listing, as every file): readers pin their GETs to it (``stepml.cloud.pinned``)."""
    found: dict[str, str] = {}
    marker = f"{ctx.attempt}/{DIGESTS}/"
    for obj in objects:
        if str(obj["Key"]).startswith(marker):
            found.update({str(k): str(v) for k, v in ctx.read_json(str(obj["Key"])).items()})
    sizes = {str(o["Key"])[len(ctx.attempt) + 1 :] for o in objects}
    return {rel: digest for rel, digest in found.items() if rel in sizes and len(digest) == 64}


def current_versions(ctx: FinishContext) -> dict[str, tuple[str, str]]:
    """Key -> (version id, ETag) of the attempt's current objects in a versioned bucket (the artifact bucket is):
    one ListObjectVersions of the attempt's prefix, recorded beside each file's ETag so the very object committed
    can be found (and restored) after an overwrite; empty when the bucket is not versioned (version id ``null``)."""
    found: dict[str, tuple[str, str]] = {}
    pages = ctx.s3.get_paginator("list_object_versions").paginate(Bucket=ctx.bucket, Prefix=f"{ctx.attempt}/")
    for page in pages:
        for version in page.get("Versions", []):
            if version.get("IsLatest") and version.get("VersionId") not in (None, "", "null"):
                found[str(version["Key"])] = (str(version["VersionId"]), str(version.get("ETag")))
    return found


def partition_event(event: Mapping[str, Any], *, bucket: str, s3: Any) -> dict[str, Any]:
    """Write ``<attempt>/_partitions.json`` (one item per partition: ``{"index", "files": [keys]}``) from the data
    files of the partitioned input; the Distributed Map reads it with its ItemReader, each task its own item."""
    step = str(event["step"])
    source = str(event["source_prefix"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{source}/data/")
    files = sorted(str(o["Key"]) for page in pages for o in page.get("Contents", []))
    if not files:
        raise StepInputError(step, f"s3://{bucket}/{source}/data/ has no files to process")
    parts = partition_files(files, int(event["partitions"]))
    items = [{"index": i, "files": part} for i, part in enumerate(parts)]
    key = f"{event['attempt']}/{PARTITIONS}"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())
    return {"key": key, "count": len(items)}


def stage_event(event: Mapping[str, Any], config: Mapping[str, Any], *, bucket: str, s3: Any) -> dict[str, Any]:
    """Write a Processing job's environment to ``<attempt>/_environment.json``: the step's settings (embedded at
    synth time) and this execution's values (the event's ``environment``); the task adapter reads it."""
    step = str(event["step"])
    environment = {**config["steps"][step].get("task_env", {}), **event.get("environment", {})}
    key = f"{event['attempt']}/_environment.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(environment).encode())
    return {"uri": f"s3://{bucket}/{key}"}


@cache
def _clients(service: str) -> Any:
    import boto3

    return cast(Any, boto3).client(service)


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    config = load_config()
    action = event.get("action")
    bucket = os.environ["ARTIFACT_BUCKET"]
    if action == "commit":
        return commit(event, config=config, bucket=bucket, s3=_clients("s3"))
    if action == "partition":
        return partition_event(event, bucket=bucket, s3=_clients("s3"))
    if action == "stage":
        return stage_event(event, config, bucket=bucket, s3=_clients("s3"))
    actions = getattr(type_facet(config, str(event["step"])), "ACTIONS", {})
    if action not in actions:
        raise ValueError(f"unknown commit action {action!r}")
    result: dict[str, Any] = actions[action](event, config["steps"][str(event["step"])])
    return result
