"""The task adapter (``python -m stepml.cloud.task``) stages exactly what a process step reads, refuses an image
whose code is not the code the key holds, and reads a Processing job's environment from S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stepml.cloud import task
from stepml.core.digest import Finder, code_digest
from tests.unit.conftest import BUCKET


def test_a_partition_stages_only_its_files_of_the_partitioned_input(s3: Any, tmp_path: Path) -> None:
    for i in range(4):
        s3.put_object(Bucket=BUCKET, Key=f"p/extract/a/data/part-{i:05d}.parquet", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="p/extract/a/logs/extract.log", Body=b"not data")
    s3.put_object(Bucket=BUCKET, Key="p/lookup/a/tables/codes/part-00000.parquet", Body=b"y")
    items = [{"index": i, "files": [f"p/extract/a/data/part-{j:05d}.parquet" for j in (i, i + 2)]} for i in (0, 1)]
    s3.put_object(Bucket=BUCKET, Key="p/step/a/_partitions.json", Body=json.dumps(items))
    env = {
        "ARTIFACT_BUCKET": BUCKET,
        "STEPML_UPSTREAM_KINDS": json.dumps({"extract": ["table"], "lookup": ["table"]}),
        "STEPML_INPUTS": json.dumps({"extract": {"prefix": "p/extract/a"}, "lookup": {"prefix": "p/lookup/a"}}),
        "STEPML_PARTITIONS_KEY": "p/step/a/_partitions.json",
        "STEPML_PARTITION": "1",
    }
    inputs = task.stage_inputs(env, s3, tmp_path)
    assert [Path(f).name for f in inputs["extract"].tables[""]] == ["part-00001.parquet", "part-00003.parquet"]
    assert list(inputs["lookup"].tables) == ["codes"]  # an input that is not partitioned: all of it
    assert inputs["extract"].kinds == ("table",)


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
