"""The task adapter (``python -m stepml.cloud.task``) stages exactly what a process step reads, refuses an image
whose code is not the code the key holds, and reads a Processing job's environment from S3."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stepml.cloud import task
from stepml.core.digest import Finder, code_digest
from stepml.core.manifest import file_role
from stepml.errors import InputChangedError, StepInputError
from tests.unit.conftest import BUCKET


def _commit(s3: Any, step: str, files: dict[str, bytes], *, digests: bool = True, etags: bool = False) -> str:
    """Upstream ``step``'s output committed in the bucket as the commit Lambda does: files, then the manifest
    listing them (with their sha256 when their writer recorded them, their ETags if asked); its attempt prefix."""
    prefix = f"p/steps/{step}/k1/a"
    listed = []
    for rel, body in files.items():
        etag = s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{rel}", Body=body)["ETag"].strip('"')
        entry: dict[str, Any] = {"path": rel, "size": len(body), "role": file_role(rel)}
        if digests:
            entry["sha256"] = hashlib.sha256(body).hexdigest()
        if etags:
            entry["etag"] = etag
        listed.append(entry)
    manifest: dict[str, Any] = {"schema": "stepml.manifest/2", "pipeline": "p", "step": step, "type": "extract"}
    manifest |= {"key": "k1", "prefix": prefix, "files": listed, "summary": {}, "run_id": "r"}
    s3.put_object(Bucket=BUCKET, Key=f"p/steps/{step}/k1/_manifest.json", Body=json.dumps(manifest))
    return prefix


def _env(inputs: dict[str, Any], **more: str) -> dict[str, str]:
    return {
        "ARTIFACT_BUCKET": BUCKET,
        "STEPML_STEP": "score",
        "STEPML_UPSTREAM_KINDS": json.dumps({name: ["table"] for name in inputs}),
        "STEPML_INPUTS": json.dumps(inputs),
        **more,
    }


def test_a_partition_stages_only_its_files_of_the_partitioned_input(s3: Any, tmp_path: Path) -> None:
    data = {f"data/part-{i:05d}.parquet": b"x" for i in range(4)}
    extract = _commit(s3, "extract", {**data, "logs/extract.log": b"not data"}, digests=False)  # an UNLOAD's
    lookup = _commit(s3, "lookup", {"tables/codes/part-00000.parquet": b"y"})
    items = [{"index": i, "files": [f"{extract}/data/part-{j:05d}.parquet" for j in (i, i + 2)]} for i in (0, 1)]
    s3.put_object(Bucket=BUCKET, Key="p/step/a/_partitions.json", Body=json.dumps(items))
    env = _env(
        {"extract": {"prefix": extract}, "lookup": {"prefix": lookup}},
        STEPML_PARTITIONS_KEY="p/step/a/_partitions.json",
        STEPML_PARTITION="1",
    )
    inputs = task.stage_inputs(env, s3, tmp_path)
    assert [Path(f).name for f in inputs["extract"].tables[""]] == ["part-00001.parquet", "part-00003.parquet"]
    assert list(inputs["lookup"].tables) == ["codes"]  # an input that is not partitioned: all of it
    assert inputs["extract"].kinds == ("table",)


def test_an_input_file_changed_since_its_manifest_was_written_is_refused(s3: Any, tmp_path: Path) -> None:
    # Given an upstream output whose manifest records its files' sha256
    features = _commit(s3, "features", {"data/part-00000.parquet": b"PAR1 rows PAR1"})
    env = _env({"features": {"prefix": features}})
    assert task.stage_inputs(env, s3, tmp_path)["features"].tables[""]
    # When one of its files is replaced by one of the same size
    s3.put_object(Bucket=BUCKET, Key=f"{features}/data/part-00000.parquet", Body=b"PAR1 ROWS PAR1")
    # Then the task refuses it, naming the step, the input and the file
    with pytest.raises(StepInputError) as caught:
        task.stage_inputs(env, s3, tmp_path / "again")
    assert caught.value.step == "score" and f"s3://{BUCKET}/{features}/data/part-00000.parquet" in str(caught.value)
    assert "'features'" in caught.value.message
    # and an input whose manifest is missing is refused too (never staged from a bare listing)
    with pytest.raises(StepInputError, match="no readable manifest"):
        task.stage_inputs(_env({"other": {"prefix": "p/steps/other/k9/a"}}), s3, tmp_path / "other")


def _model_tar(value: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("estimator.joblib")
        info.size = len(value)
        tar.addfile(info, io.BytesIO(value))
    return buf.getvalue()


def test_an_upstream_file_or_model_an_aws_service_wrote_is_read_pinned_to_its_etag(s3: Any, tmp_path: Path) -> None:
    """Files without a sha256 (an UNLOAD's parquet, SageMaker's model.tar.gz) are read with If-Match the ETag the
    commit recorded; S3 answers 412 Precondition Failed for another object
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, If-Match)."""
    extract = _commit(s3, "extract", {"data/part-00000.parquet": b"PAR1 rows PAR1"}, digests=False, etags=True)
    original = _model_tar(b"model-1")
    train = _commit(s3, "train", {"job/output/model.tar.gz": original}, digests=False, etags=True)
    model_uri = f"s3://{BUCKET}/{train}/job/output/model.tar.gz"
    env = _env({"extract": {"prefix": extract}, "train": {"model_uri": model_uri}})
    staged = task.stage_inputs(env, s3, tmp_path / "ok")
    assert (Path(str(staged["train"].model_dir)) / "estimator.joblib").read_bytes() == b"model-1"
    # When the model is replaced by an archive of the same size (another model), after its step committed
    s3.put_object(Bucket=BUCKET, Key=f"{train}/job/output/model.tar.gz", Body=_model_tar(b"model-2"))
    assert len(_model_tar(b"model-2")) == len(original)
    # Then the task refuses it before unpacking, naming the step, the model's step and the file
    with pytest.raises(InputChangedError, match=re.escape(f"s3://{BUCKET}/{train}/job/output/model.tar.gz")) as caught:
        task.stage_inputs(env, s3, tmp_path / "model")
    assert caught.value.step == "score" and "'train'" in caught.value.message
    assert not (tmp_path / "model" / "model").exists()
    # and an UNLOAD's file replaced alike is refused too (it has no sha256 to check)
    s3.put_object(Bucket=BUCKET, Key=f"{train}/job/output/model.tar.gz", Body=original)
    s3.put_object(Bucket=BUCKET, Key=f"{extract}/data/part-00000.parquet", Body=b"PAR1 ROWS PAR1")
    with pytest.raises(InputChangedError, match="'extract'"):
        task.stage_inputs(env, s3, tmp_path / "table")
    # and a model archive that is no archive, as committed, is a named error too (never a crash)
    broken = _commit(s3, "trainer", {"job/output/model.tar.gz": b"not gzip"}, digests=False, etags=True)
    bad = _env({"trainer": {"model_uri": f"s3://{BUCKET}/{broken}/job/output/model.tar.gz"}})
    with pytest.raises(StepInputError, match="is not a readable model archive"):
        task.stage_inputs(bad, s3, tmp_path / "broken")
    # and a model URI inside a step's folder that its manifest does not list is no model of that step
    s3.put_object(Bucket=BUCKET, Key=f"{train}/job/output/other.tar.gz", Body=_model_tar(b"model-1"))
    stray = _env({"train": {"model_uri": f"s3://{BUCKET}/{train}/job/output/other.tar.gz"}})
    with pytest.raises(StepInputError, match="is not a file of 'train'"):
        task.stage_inputs(stray, s3, tmp_path / "stray")


def test_the_files_a_task_writes_have_their_digests_recorded_beside_them(s3: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "part-00003.parquet").write_bytes(b"rows")
    task.upload(s3, out, f"s3://{BUCKET}/p/steps/score/k1/a", partition=3)
    recorded = json.loads(
        s3.get_object(Bucket=BUCKET, Key="p/steps/score/k1/a/_digests/part-00003.json")["Body"].read()
    )
    assert recorded == {"data/part-00003.parquet": hashlib.sha256(b"rows").hexdigest()}


def test_an_image_whose_code_differs_from_the_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "__init__.py").write_text("")
    (tmp_path / "acme" / "fn.py").write_text("def f():\n    return 1\n")
    modules = {"type": [], "own": ["acme.fn"]}
    digest = code_digest([], ["acme.fn"], Finder([tmp_path])).digest
    env = {"STEPML_CODE_MODULES": json.dumps(modules), "STEPML_CODE_DIGEST": digest}
    assert task.code_matches(env, [tmp_path]) is None
    (tmp_path / "acme" / "fn.py").write_text("def f():\n    return 2\n")  # an image built from other code
    problem = task.code_matches(env, [tmp_path])
    assert problem is not None and f"differs from the plan's {digest[:12]}" in problem
    assert "lacks the step's code" in str(task.code_matches(env, [tmp_path / "elsewhere"]))


def test_a_processing_job_reads_its_environment_from_s3(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s3.put_object(Bucket=BUCKET, Key="p/a/_environment.json", Body=json.dumps({"STEPML_STEP": "embed"}))
    monkeypatch.setenv("STEPML_ENVIRONMENT_URI", f"s3://{BUCKET}/p/a/_environment.json")
    assert task.environment(["--environment-from-s3"], s3)["STEPML_STEP"] == "embed"
    assert "STEPML_STEP" not in task.environment([], s3)


def test_a_processing_job_fetches_its_secrets_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("API_TOKEN", "unset")
    monkeypatch.delenv("API_TOKEN")  # absent now, and absent again after the test
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/acme/token", Value="tok", Type="SecureString")
        env = {"STEPML_SECRET_REFS": json.dumps({"API_TOKEN": "ssm:/acme/token"})}
        task.load_secrets(env, boto3.client)
    assert env["API_TOKEN"] == "tok"
