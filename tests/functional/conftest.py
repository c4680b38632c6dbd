"""Shared fixtures of the functional tests: the AWS side in an in-process moto (the rig)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from moto import mock_aws

from stepml.spec import Pipeline
from tests.cloud_harness.rig import EXECUTE, REGION, Rig, Transform, open_rig

RigFactory = Callable[..., AbstractContextManager[Rig]]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RigFactory]:
    """``cloud(pipeline, transform=None, name=...)``: a rig in an in-process moto with execution enabled."""
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    @contextmanager
    def factory(
        pipeline: Pipeline, *, transform: Transform | None = None, name: str = "stepml", liveness_seconds: int = 60
    ) -> Iterator[Rig]:
        with open_rig(pipeline, tmp_path, transform=transform, name=name, liveness_seconds=liveness_seconds) as rig:
            yield rig

    with mock_aws(config=EXECUTE):
        yield factory
