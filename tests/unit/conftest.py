"""Fixtures of the unit tests: an in-process moto S3 with the artifact bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

BUCKET = "artifacts"


def planned(config: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan Lambda's output for ``config`` (no lookups resolved), as an execution of 2026-05-01 03:00 UTC."""
    from stepml.cloud.handlers.plan import plan_payload
    from stepml.core.plan import empty_registry

    return plan_payload(
        config,
        params or {},
        bucket=BUCKET,
        execution_id="arn:x:run",
        execution_name="run-1",
        started_at="2026-05-01T03:00:00Z",
        resolve=empty_registry,
    )


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 S3 client on in-process moto, with ``BUCKET`` created."""
    for k, v in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
