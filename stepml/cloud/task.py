"""The ECS task adapter: ``python -m stepml.cloud.task score|check`` in the pipeline image.

ECS has no S3 mount, so this adapter stages the task's world and runs the very entrypoints of the local run:
it downloads the inputs (and for scoring the model's ``model.tar.gz``), runs ``python -m steps.score`` or
``python -m steps.check`` with local paths, and uploads the outputs under ``STEPML_OUTPUT_URI``. On failure it
uploads the entrypoint's failure JSON to ``logs/`` and exits with the entrypoint's code, so the ECS task - and the
state machine's ``runTask.sync`` - fails with the step's error in the log.

Environment (set by the state machine): ``STEPML_STEP``, ``STEPML_OUTPUT_URI``; score: ``STEPML_ITEMS`` (JSON
list of ``{"key", "index"}`` in the artifact bucket), ``STEPML_MODEL_URI``, ``STEPML_MODEL_VERSION``,
``STEPML_RUN_ID``, ``STEPML_BATCH_ROWS``, ``STEPML_THREADS``; check: ``STEPML_INPUT_URI``, ``STEPML_CONFIG``,
``STEPML_PIPELINE``, ``STEPML_RUN_ID`` and, when a score step feeds it, ``STEPML_PREDICTIONS_URI``,
``STEPML_MODEL_URI`` (the serving model, whose ``profile.json`` is the drift reference) and
``STEPML_VALIDATION_METRIC``; and ``ARTIFACT_BUCKET`` (from the task definition).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key.rstrip("/")


def _run(args: list[str], failure: Path, s3: Any, output_uri: str, name: str) -> int:
    code = subprocess.call([sys.executable, "-m", *args])
    if code != 0 and failure.exists():
        bucket, prefix = split_uri(output_uri)
        s3.upload_file(str(failure), bucket, f"{prefix}/logs/failure-{name}.json")
        print(failure.read_text(), file=sys.stderr)
    return code


def run_score(env: Mapping[str, str], s3: Any, work: Path) -> int:
    bucket = env["ARTIFACT_BUCKET"]
    items = sorted(json.loads(env["STEPML_ITEMS"]), key=lambda i: int(i["index"]))
    name = f"{int(items[0]['index']):05d}" if items else "00000"
    model_bucket, model_key = split_uri(env["STEPML_MODEL_URI"])
    archive = work / "model.tar.gz"
    s3.download_file(model_bucket, model_key, str(archive))
    with tarfile.open(archive) as tar:
        tar.extractall(work / "model", filter="data")
    args = ["steps.score", "--step", env.get("STEPML_STEP", "score"), "--model-dir", str(work / "model")]
    args += ["--model-version", env.get("STEPML_MODEL_VERSION", ""), "--run-id", env.get("STEPML_RUN_ID", "")]
    args += ["--batch-rows", env.get("STEPML_BATCH_ROWS", "65536"), "--threads", env.get("STEPML_THREADS", "1")]
    for item in items:
        local = work / "in" / f"{int(item['index']):05d}.parquet"
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, item["key"], str(local))
        args += ["--input", str(local)]
    output = work / "out" / f"part-{name}.parquet"
    failure = work / "failure.json"
    args += ["--output", str(output), "--failure-file", str(failure)]
    code = _run(args, failure, s3, env["STEPML_OUTPUT_URI"], name)
    if code == 0:
        import pyarrow.parquet as pq

        out_bucket, prefix = split_uri(env["STEPML_OUTPUT_URI"])
        s3.upload_file(str(output), out_bucket, f"{prefix}/data/part-{name}.parquet")
        rows = pq.ParquetFile(output).metadata.num_rows
        s3.put_object(Bucket=out_bucket, Key=f"{prefix}/stats/part-{name}.json", Body=json.dumps({"rows": rows}))
    return code


def _download_prefix(s3: Any, uri: str, into: Path) -> list[Path]:
    """Every object under the ``s3://`` prefix ``uri``, in key order, as local files ``00000.parquet``, ..."""
    bucket, prefix = split_uri(uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    into.mkdir(parents=True, exist_ok=True)
    out = []
    for i, key in enumerate(keys):
        local = into / f"{i:05d}.parquet"
        s3.download_file(bucket, key, str(local))
        out.append(local)
    return out


def _reference_profile(s3: Any, model_uri: str, work: Path) -> Path | None:
    """``profile.json`` from the serving model's ``model.tar.gz`` (written there by the training entrypoint)."""
    bucket, key = split_uri(model_uri)
    archive = work / "model.tar.gz"
    s3.download_file(bucket, key, str(archive))
    with tarfile.open(archive) as tar:
        names = [n for n in tar.getnames() if n.removeprefix("./") == "profile.json"]
        if not names:
            return None
        tar.extract(names[0], work / "model", filter="data")
    return work / "model" / names[0]


def run_check(env: Mapping[str, str], s3: Any, work: Path) -> int:
    args = ["steps.check", "--step", env.get("STEPML_STEP", "check"), "--config", env.get("STEPML_CONFIG", "{}")]
    for option in ("pipeline", "run_id", "validation_metric"):
        value = env.get(f"STEPML_{option.upper()}")
        if value:
            args += [f"--{option.replace('_', '-')}", value]
    for local in _download_prefix(s3, env["STEPML_INPUT_URI"], work / "in"):
        args += ["--input", str(local)]
    if env.get("STEPML_PREDICTIONS_URI"):
        for local in _download_prefix(s3, env["STEPML_PREDICTIONS_URI"], work / "predictions"):
            args += ["--predictions", str(local)]
    if env.get("STEPML_MODEL_URI"):
        reference = _reference_profile(s3, env["STEPML_MODEL_URI"], work)
        if reference is not None:
            args += ["--reference", str(reference)]
    report, failure = work / "report.json", work / "failure.json"
    args += ["--output", str(report), "--failure-file", str(failure)]
    code = _run(args, failure, s3, env["STEPML_OUTPUT_URI"], "check")
    out_bucket, prefix = split_uri(env["STEPML_OUTPUT_URI"])
    for name in ("report.json", "history.json"):  # the report; the run's metric-history record (the commit
        if (work / name).exists():  # Lambda files it under <pipeline>/metrics/ and publishes it to CloudWatch)
            s3.upload_file(str(work / name), out_bucket, f"{prefix}/{name}")
    return code


def main(argv: list[str] | None = None) -> int:
    import boto3

    argv = sys.argv[1:] if argv is None else argv
    kind = argv[0] if argv else ""
    runners = {"score": run_score, "check": run_check}
    if kind not in runners:
        print(f"usage: python -m stepml.cloud.task {{{'|'.join(runners)}}}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="stepml-task-") as tmp:
        return runners[kind](os.environ, boto3.client("s3"), Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
