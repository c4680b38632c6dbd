"""The whole pipeline against an s3:// artifact root (moto server on 127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import boto3

from stepml.api import build
from stepml.app import make_store
from stepml.core import layout
from stepml.core import manifest as mf
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec

STEPS = ["extract_train", "extract_score", "train", "gate", "score", "check"]


def test_pipeline_runs_and_caches_on_s3(make_pipeline, aws_env):
    bucket = f"stepml-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/team/artifacts"
    spec = make_pipeline()
    env = {**os.environ, **aws_env}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stepml.cli", "run", "--spec", str(spec), "--root", root],
            check=False,
            cwd=spec.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "6 ran" in first.stdout
    second = run()
    assert second.returncode == 0 and "6 cached" in second.stdout

    # Then every manifest is an S3 object, and nothing was written to the local default root
    pipeline = load_spec(spec)
    store = make_store(root)
    plan = LocalRunner(pipeline, store).plan({})
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="team/")["Contents"]}
    for step in plan.steps:
        assert f"team/artifacts/{layout.manifest_key(pipeline.name, step.name, step.key)}" in keys
        m = mf.read_manifest(store, pipeline.name, step.name, step.key)
        assert m is not None and mf.damaged_files(store, m) == []
    assert not (spec.parent / "artifacts").exists()
    assert not any(k.startswith("team/artifacts/job-matching/locks/") for k in keys), "locks are released"

    # and the notebook API reads the outputs from S3
    predictions = build("score", spec=spec, root=root)
    scored = next(s for s in plan.steps if s.name == "score")
    manifest = mf.read_manifest(store, pipeline.name, "score", scored.key)
    assert manifest is not None and len(predictions) == manifest["rows"]
