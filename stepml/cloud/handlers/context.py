"""What a step type's ``cloud`` facet is given in the Lambda handlers (standard library + boto3 only).

``plan_entry(ctx: PlanContext) -> dict`` (optional) adds to the step's entry in the plan Lambda's output, e.g. an
extract's rendered UNLOAD statement or a training job's name. ``finish(ctx: FinishContext) -> dict`` runs in the
commit Lambda after the type's native work: it completes the attempt's files and returns ``rows``, ``summary``
and ``detail`` for the manifest - the same summary the local facet records. ``committed(ctx, manifest)``
(optional) runs after the manifest is written (e.g. publishing a check's metrics).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepml.core import parquet_footer
from stepml.core.plan import Plan, PlannedStep
from stepml.errors import StepExecutionError, StepInputError

FOOTER_READ = 64 * 1024  # bytes of a parquet file's end read at first: the footer, for all but very wide tables
JOB_NAME_MAX = 63  # SageMaker TrainingJobName / ProcessingJobName
ATTEMPT_TOKEN_MAX = len("999-99")  # the states add "-<redrives>-<retries>" (retries <= 10 + transient ones)
PARTITIONS = "_partitions.json"  # a partitioned step's partitions (items of its Distributed Map), in its attempt


@dataclass
class PlanContext:
    step: PlannedStep
    plan: Plan
    settings: Mapping[str, Any]  # the step's cloud settings (``StepSpec.cloud_settings`` + type, needs, upstream)
    config: Mapping[str, Any]  # the whole embedded config (engine, plan input, ...)
    entry: Mapping[str, Any]  # what the plan already holds for the step: key, prefix, attempt, uri
    bucket: str
    execution_suffix: str  # 6 hex digits unique to the execution
    started_at: str  # the execution's start, ``YYYYmmddTHHMMSS``
    environment: Mapping[str, str] = field(default_factory=dict)  # the function's own settings

    def job_name(self) -> str:
        """A SageMaker job name for this step in this execution: ``[a-zA-Z0-9-]``, short enough that the states'
        per-attempt suffix (``-<redrives>-<retries>``) keeps it within SageMaker's 63 characters."""
        raw = f"{self.plan.pipeline[:20]}-{self.step.name[:14]}-{self.step.key[:8]}-{self.execution_suffix}"
        raw = f"{raw}{self.started_at[-6:]}"
        name = re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9-]", "-", raw)).strip("-")
        return name[: JOB_NAME_MAX - 1 - ATTEMPT_TOKEN_MAX].rstrip("-")


@dataclass
class FinishContext:
    step: PlannedStep
    plan: Plan
    settings: Mapping[str, Any]
    config: Mapping[str, Any]
    bucket: str
    attempt: str  # the attempt's prefix in the bucket
    task: Mapping[str, Any]  # what the type's states put at ``$.task``
    results: Mapping[str, Any]  # finished upstream steps' results (key, prefix, summary)
    s3: Any
    client: Callable[[str], Any]  # boto3 clients by service name, built on first use
    run_id: str = ""  # the execution's run id

    @property
    def name(self) -> str:
        return self.step.name

    def upstream_of(self, kind: str, *, required: bool = True) -> Any:
        names = self.settings.get("upstream", {}).get(kind, [])
        if names and names[0] in self.results:
            return self.results[names[0]]
        if required:
            raise StepExecutionError(self.name, f"no upstream result producing {kind!r} in the execution state")
        return None

    def objects(self, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/")
        for page in pages:
            out.extend(page.get("Contents", []))
        return sorted(out, key=lambda o: str(o["Key"]))

    def parquet_rows(self, key: str) -> int:
        """The rows of a parquet object, from its footer: one ranged GET of its last 64 KiB (a second one if the
        footer is longer) - never the data."""
        try:
            tail = self._tail(key, FOOTER_READ)
            rows = parquet_footer.rows_from_tail(tail)
            if rows is None:
                rows = parquet_footer.rows_from_tail(
                    self._tail(key, parquet_footer.footer_length(tail) + parquet_footer.TAIL)
                )
        except parquet_footer.FooterError as exc:
            raise StepInputError(self.name, f"s3://{self.bucket}/{key} is not a readable parquet file: {exc}") from exc
        assert rows is not None
        return rows

    def _tail(self, key: str, size: int) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=-{size}")["Body"].read()
        return data

    def read_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put_json(self, key: str, data: Any) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(data, indent=2).encode())

    def partitions_succeeded(self) -> int | None:
        """For a step that ran as a Distributed Map (``task.results_key``: the Map Run's ``manifest.json``, written to
        S3 by its ResultWriter): how many partitions it had, once its results show that every one succeeded;
        None for a step that ran as one process. A partition that failed, is pending or is absent from the results
        is a :class:`StepExecutionError` - the output is never committed without all of its partitions."""
        key = self.task.get("results_key")
        if not key:
            return None
        files = self.read_json(str(key)).get("ResultFiles", {})
        expected = len(self.read_json(f"{self.attempt}/{PARTITIONS}"))
        unfinished = sorted(
            _partition_of(record.get("Input"))
            for status in ("FAILED", "PENDING")
            for f in files.get(status, [])
            for record in self.read_json(str(f["Key"]))
        )
        succeeded = {
            _partition_of(record.get("Output"))
            for f in files.get("SUCCEEDED", [])
            for record in self.read_json(str(f["Key"]))
        }
        missing = sorted(set(range(expected)) - succeeded)
        if unfinished or missing:
            raise StepExecutionError(
                self.name,
                f"{len(missing)} of {expected} partitions did not succeed (e.g. {missing[:5]}; failed or pending: "
                f"{unfinished[:5]}); the Map Run's results: s3://{self.bucket}/{key}",
            )
        return expected

    def entry_results(self) -> list[dict[str, Any]]:
        """What the step's entry processes wrote under ``<attempt>/_results/`` (one per partition: each partition
        the Map Run's results list must have written its own)."""
        expected = self.partitions_succeeded()
        objects = [
            o for o in self.objects(f"{self.attempt}/_results") if not o["Key"].rsplit("/", 1)[-1].startswith("failure")
        ]
        if expected is not None:
            names = {str(o["Key"]).rsplit("/", 1)[-1] for o in objects}
            missing = [i for i in range(expected) if f"part-{i:05d}.json" not in names]
            if missing:
                raise StepExecutionError(
                    self.name,
                    f"partitions {missing[:5]} succeeded but wrote no result to s3://{self.bucket}/"
                    f"{self.attempt}/_results/ ({len(missing)} of {expected})",
                )
        return [self.read_json(o["Key"]) for o in objects]


def _partition_of(text: Any) -> int:
    """The partition index a Map Run's result record names: a child's output is its index; its input (for a failed
    child, which has no output) holds it as ``partition``."""
    value = json.loads(text) if isinstance(text, str) else text
    if isinstance(value, dict):
        value = value.get("partition", -1)
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else -1
