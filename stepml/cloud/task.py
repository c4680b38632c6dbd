"""The task adapter: ``python -m stepml.cloud.task`` in the pipeline image, for every step that runs as a process.

An ECS task (or a SageMaker Processing job) has no S3 mount, so this adapter stages the step's world and runs the
very entry the local run runs (``stepml.entry``): it downloads the upstream outputs the step reads (only its own
partition's files of a partitioned input; a model's ``model.tar.gz`` unpacked), writes the invocation, runs it,
and uploads the output folder under ``STEPML_OUTPUT_URI``. A failure keeps its failure JSON (uploaded with the
rest) and exits non-zero, so the task - and the state machine's ``.sync`` integration - fails with the step's
error in the log.

Before running, it checks that the image holds the code the plan's key was computed from: the digest of the
step's modules in the image must equal ``STEPML_CODE_DIGEST`` (the key's code component), so AWS never runs code
other than what the key says.

Files are trusted as locally: an upstream's files are those its committed manifest lists (read beside its attempt
prefix), each read with ``If-Match`` the S3 ETag the manifest records and checked against the sha256 it records
before use - a file changed in place, even of the same size, is an ``InputChangedError`` (a ``StepInputError``)
naming the step, the upstream and the file. That covers the files AWS services wrote, which have no sha256: an
UNLOAD's parquet, and SageMaker's ``model.tar.gz``, pinned to the ETag in its train step's manifest before it is
unpacked (``stepml.cloud.pinned``). The files this task writes get their sha256
recorded beside them (``_digests/<part-NNNNN|task>.json``), which the commit Lambda puts in the manifest without
reading the data.

Environment - from the task definition (never changes between runs): ``ARTIFACT_BUCKET``, ``STEPML_STEP``,
``STEPML_TYPE``, ``STEPML_ENTRY``, ``STEPML_PIPELINE``, ``STEPML_CONFIG``, ``STEPML_PARAM_TYPES``,
``STEPML_THREADS``, ``STEPML_UPSTREAM_KINDS``, ``STEPML_CODE_MODULES``, ``STEPML_CODE_DIGEST``,
``STEPML_SECRETS``; from the execution: ``STEPML_RUN_ID``, ``STEPML_PARAMS``, ``STEPML_INPUTS`` (per upstream its
attempt ``prefix`` and, for a model, ``model_uri``), ``STEPML_OUTPUT_URI`` and, for one partition,
``STEPML_PARTITIONS_KEY`` and ``STEPML_PARTITION``.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stepml.core.manifest import sha256_of
from stepml.entry import Input, Invocation, execute


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key.rstrip("/")


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    return sorted(str(o["Key"]) for page in pages for o in page.get("Contents", []))


def _model(s3: Any, uri: str, into: Path, *, step: str) -> Path:
    """A model as a local folder: ``model.tar.gz`` (SageMaker's output) unpacked, or a folder downloaded - each file
    read pinned to the ETag the manifest of the step that wrote it records (:func:`model_files`), before anything in
    it is unpacked or unpickled."""
    from stepml.cloud.pinned import download_pinned

    bucket, key = split_uri(uri)
    writer, recorded = model_files(s3, bucket, key, step=step)
    if key.endswith(".tar.gz"):
        archive = into.with_suffix(".tar.gz")
        download_pinned(s3, bucket, key, archive, recorded.get(key), step=step, upstream=writer)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(into, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:  # as committed, yet no archive (or one that escapes)
            from stepml.errors import StepInputError

            raise StepInputError(step, f"model {uri} is not a readable model archive: {exc}") from exc
        return into
    for k in _keys(s3, bucket, key):
        download_pinned(s3, bucket, k, into / k[len(key) + 1 :], recorded.get(k), step=step, upstream=writer)
    return into


def model_files(s3: Any, bucket: str, key: str, *, step: str) -> tuple[str, dict[str, str]]:
    """The step that wrote the model at ``key`` and the ETags its manifest records (store key -> ETag).

    A model stepml trained lies in its train step's attempt folder (``<pipeline>/steps/<step>/<key>/<attempt>/...``:
    SageMaker's ``model.tar.gz`` under the job's output path), whether it comes from an upstream step of this run or
    from the registry (a model package's ``ModelDataUrl``); that step's manifest is the record to pin to, and the
    model must be one of its files. A model elsewhere (registered by hand) has no record: its own
    ``stepml_model.json`` digests are all that is checked (``steps._model.load_model``)."""
    from stepml.core.manifest import etags
    from stepml.errors import StepInputError

    parts = key.split("/")
    if len(parts) < 6 or parts[1] != "steps":
        return "model", {}
    writer, prefix = parts[2], "/".join(parts[:5])
    manifest = upstream_manifest(s3, bucket, step, writer, prefix)
    files = [f"{prefix}/{f['path']}" for f in manifest["files"]]
    if not any(k == key or k.startswith(key.rstrip("/") + "/") for k in files):
        raise StepInputError(step, f"model s3://{bucket}/{key} is not a file of {writer!r}'s committed output {prefix}")
    return writer, etags(manifest)


def upstream_manifest(s3: Any, bucket: str, step: str, name: str, prefix: str) -> dict[str, Any]:
    """The committed manifest of upstream ``name`` whose attempt is ``prefix``
    (``<pipeline>/steps/<name>/<key>/<attempt>``): validated, and naming that very attempt."""
    from stepml.core.layout import manifest_key
    from stepml.core.manifest import parse_manifest
    from stepml.errors import StepInputError

    parts = prefix.rsplit("/", 4)
    if len(parts) != 5 or parts[1] != "steps" or parts[2] != name:
        raise StepInputError(step, f"input {name!r}: {prefix!r} is not an attempt folder of step {name!r}")
    pipeline, _, _, key, _ = parts
    where = manifest_key(pipeline, name, key)
    try:
        raw = s3.get_object(Bucket=bucket, Key=where)["Body"].read()
    except Exception as exc:  # NoSuchKey, AccessDenied: either way not an input this task may trust
        raise StepInputError(step, f"input {name!r} has no readable manifest at s3://{bucket}/{where}: {exc}") from exc
    manifest = parse_manifest(raw, pipeline, name, key, where=f"s3://{bucket}/{where}")
    if manifest is None or manifest["prefix"] != prefix:
        raise StepInputError(step, f"input {name!r}: s3://{bucket}/{where} is not a valid manifest of {prefix}")
    return manifest


def stage_inputs(env: Mapping[str, str], s3: Any, work: Path) -> dict[str, Input]:
    """Every upstream output the step reads, as local files: its tables (the files its manifest lists, each checked
    against its recorded sha256, each read pinned to its recorded S3 ETag), its model (pinned alike)."""
    from stepml.cloud.pinned import download_pinned
    from stepml.core.manifest import file_table

    bucket = env["ARTIFACT_BUCKET"]
    step = env["STEPML_STEP"]
    kinds: dict[str, list[str]] = json.loads(env.get("STEPML_UPSTREAM_KINDS", "{}"))
    partition_files: set[str] | None = None
    if env.get("STEPML_PARTITIONS_KEY"):
        items = json.loads(s3.get_object(Bucket=bucket, Key=env["STEPML_PARTITIONS_KEY"])["Body"].read())
        index = int(env["STEPML_PARTITION"])
        partition_files = set(next(i for i in items if int(i["index"]) == index)["files"])
    inputs: dict[str, Input] = {}
    for name, given in json.loads(env.get("STEPML_INPUTS", "{}")).items():
        prefix = str(given.get("prefix") or "")
        tables: dict[str, list[str]] = {}
        files = upstream_manifest(s3, bucket, step, name, prefix)["files"] if prefix else []
        for f in files:
            rel, key = str(f["path"]), f"{prefix}/{f['path']}"
            table = file_table(rel) if f.get("role", "data") == "data" else None
            if table is None or (table == "" and not _in_partition(key, prefix, partition_files)):
                continue
            local = download_pinned(s3, bucket, key, work / "in" / name / rel, f.get("etag"), step=step, upstream=name)
            _check_digest(step, name, f"s3://{bucket}/{key}", local, f.get("sha256"))
            tables.setdefault(table, []).append(str(local))
        model_dir = (
            str(_model(s3, given["model_uri"], work / "model" / name, step=step)) if given.get("model_uri") else None
        )
        summary = {k: v for k, v in given.items() if k not in ("prefix", "model_uri")}
        kind = kinds.get(name, ["model"] if model_dir and not prefix else [])  # a model the plan resolved
        inputs[name] = Input(kinds=tuple(kind), tables=tables, model_dir=model_dir, summary=summary)
    return inputs


def _check_digest(step: str, name: str, uri: str, local: Path, recorded: Any) -> None:
    """A file its upstream's manifest records a sha256 for must still have it (older manifests record none)."""
    from stepml.errors import input_changed

    if recorded is not None and sha256_of(local) != recorded:
        raise input_changed(step, name, uri, str(recorded), how="sha256")


def _in_partition(key: str, prefix: str, partition_files: set[str] | None) -> bool:
    """Whether this task reads ``key``: every file of an input that is not partitioned, only its own files of the
    partitioned one (the input whose files the partitions list)."""
    if partition_files is None or not any(f.startswith(prefix + "/") for f in partition_files):
        return True
    return key in partition_files


def invocation(env: Mapping[str, str], inputs: dict[str, Input], work: Path) -> Invocation:
    partition = int(env["STEPML_PARTITION"]) if env.get("STEPML_PARTITION") else None
    return Invocation(
        step=env["STEPML_STEP"],
        type=env["STEPML_TYPE"],
        entry=env["STEPML_ENTRY"],
        pipeline=env.get("STEPML_PIPELINE", ""),
        run_id=env.get("STEPML_RUN_ID", ""),
        params=json.loads(env.get("STEPML_PARAMS", "{}")),
        param_types=json.loads(env.get("STEPML_PARAM_TYPES", "{}")),
        config=json.loads(env.get("STEPML_CONFIG", "{}")),
        inputs=inputs,
        output_dir=str(work / "out"),
        scratch_dir=str(work / "scratch"),
        threads=int(env.get("STEPML_THREADS", "1")),
        partition=partition,
        secrets=tuple(json.loads(env.get("STEPML_SECRETS", "[]"))),
    )


def code_matches(env: Mapping[str, str], roots: list[Path]) -> str | None:
    """None when the image's code of the step has the digest the plan's key holds; else why not."""
    expected = env.get("STEPML_CODE_DIGEST")
    if not expected:
        return None
    from stepml.core.digest import Finder, code_digest

    modules = json.loads(env.get("STEPML_CODE_MODULES", "{}"))
    try:
        found = code_digest(modules.get("type", []), modules.get("own", []), Finder(roots)).digest
    except LookupError as exc:
        return f"the image lacks the step's code: {exc}"
    if found != expected:
        return f"the image's code digest {found[:12]} differs from the plan's {expected[:12]}: deploy the image built from this code"
    return None


def load_secrets(env: dict[str, str], client: Any) -> None:
    """A Processing job has no secret injection (ECS tasks get theirs from the task definition): fetch the step's
    secrets into its environment by their references (the job's role may read exactly those). Never logged."""
    refs: dict[str, str] = json.loads(env.get("STEPML_SECRET_REFS", "{}"))
    for name, ref in refs.items():
        if env.get(name):
            continue
        kind, _, where = ref.partition(":")
        if kind == "ssm":
            env[name] = client("ssm").get_parameter(Name=where, WithDecryption=True)["Parameter"]["Value"]
        else:
            env[name] = client("secretsmanager").get_secret_value(SecretId=where)["SecretString"]
        os.environ[name] = env[name]


def upload(s3: Any, output: Path, output_uri: str, partition: int | None = None) -> None:
    """Upload the output folder, with the sha256 of each of its files recorded beside them
    (``_digests/<part-NNNNN|task>.json``: the commit Lambda puts them in the manifest)."""
    from stepml.core.manifest import DIGESTS

    bucket, prefix = split_uri(output_uri)
    paths = sorted(p for p in output.rglob("*") if p.is_file())
    record = output / DIGESTS / (f"part-{partition:05d}.json" if partition is not None else "task.json")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({p.relative_to(output).as_posix(): sha256_of(p) for p in paths}, sort_keys=True))
    for path in [*paths, record]:
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(output).as_posix()}")


def run(env: Mapping[str, str], s3: Any, work: Path, *, roots: list[Path] | None = None) -> int:
    """Stage, check the code, run the entry, upload; the entry's exit code."""
    from stepml.errors import StepError, StepExecutionError

    inv = invocation(env, {}, work)
    problem = code_matches(env, roots or [Path.cwd(), *(Path(p) for p in sys.path if p)])
    if problem is not None:
        return _refuse(env, s3, inv, StepExecutionError(inv.step, problem))
    try:
        inputs = stage_inputs(env, s3, work)
    except StepError as exc:  # an input that is missing, invalid or not what its manifest records
        return _refuse(env, s3, inv, exc)
    inv = invocation(env, inputs, work)
    code = execute(inv)
    upload(s3, inv.output, env["STEPML_OUTPUT_URI"], inv.partition)
    return code


def _refuse(env: Mapping[str, str], s3: Any, inv: Invocation, exc: Any) -> int:
    """The step does not run: its named error in its failure file (uploaded) and on stderr; exit code 2."""
    from stepml.entry import failure_path
    from stepml.errors import to_failure

    failure = failure_path(inv.output, inv.partition)
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(json.dumps(to_failure(exc)))
    print(f"stepml: step {inv.step!r}: {type(exc).__name__}: {exc.message}", file=sys.stderr)
    upload(s3, inv.output, env["STEPML_OUTPUT_URI"], inv.partition)
    return 2


def environment(argv: list[str], s3: Any) -> dict[str, str]:
    """The process environment, and - in a SageMaker Processing job (``--environment-from-s3``) - the environment
    the stage Lambda wrote to ``STEPML_ENVIRONMENT_URI``."""
    env = dict(os.environ)
    if "--environment-from-s3" in argv:
        bucket, key = split_uri(env["STEPML_ENVIRONMENT_URI"])
        env.update(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return env


def main(argv: list[str] | None = None) -> int:
    import boto3

    s3 = boto3.client("s3")
    env = environment(sys.argv[1:] if argv is None else argv, s3)
    load_secrets(env, boto3.client)
    with tempfile.TemporaryDirectory(prefix="stepml-task-") as tmp:
        return run(env, s3, Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
