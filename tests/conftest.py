"""Shared builders: a small copy of the reference pipeline in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

SpecMutator = Callable[[dict[str, Any]], None]


def small_spec_dict(workdir: Path, *, rows: int = 4000, score_rows: int = 2000) -> dict[str, Any]:
    """The reference pipeline, shrunk for tests: small warehouse, fast model, 4 scoring partitions."""
    raw: dict[str, Any] = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["artifact_root"] = str(workdir / "artifacts")
    raw["warehouse"]["local"]["path"] = str(workdir / "warehouse.duckdb")
    raw["warehouse"]["local"]["sample"].update({"rows": rows, "score_rows": score_rows, "seed": 7})
    raw["model"]["hyperparameters"]["max_iter"] = 20
    raw["steps"]["extract_train"]["min_rows"] = 100
    raw["steps"]["extract_score"]["rows_per_file"] = max(1, score_rows // 4)
    raw["steps"]["check"]["min_rows"] = 100
    raw["steps"]["gate"]["min_value"] = 0.6
    return raw


def write_spec(workdir: Path, raw: dict[str, Any]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "sql").exists():
        shutil.copytree(ROOT / "sql", workdir / "sql")
    path = workdir / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def stepml_cli(spec: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m stepml.cli ARGS --spec SPEC`` in the spec's directory, with wide, colourless output."""
    return subprocess.run(
        [sys.executable, "-m", "stepml.cli", *args, "--spec", str(spec)],
        cwd=spec.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small sample warehouse per session; tests copy it."""
    from examples.job_matching.sampledata import SampleConfig, write_sample_warehouse

    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    write_sample_warehouse(path, SampleConfig(rows=4000, score_rows=2000, seed=7))
    return path


@pytest.fixture
def make_pipeline(tmp_path: Path, sample_warehouse: Path) -> Callable[..., Path]:
    """Write a small pipeline spec (optionally mutated) beside a copy of the sample warehouse; return its path."""

    def make(mutate: SpecMutator | None = None, *, workdir: Path | None = None) -> Path:
        wd = workdir or tmp_path / "project"
        wd.mkdir(parents=True, exist_ok=True)
        if not (wd / "warehouse.duckdb").exists():
            shutil.copyfile(sample_warehouse, wd / "warehouse.duckdb")
        raw = small_spec_dict(wd)
        if mutate is not None:
            mutate(raw)
        return write_spec(wd, raw)

    return make


@pytest.fixture(scope="session")
def moto_endpoint() -> Any:
    """A moto server on 127.0.0.1 (a free port), for code that needs a real endpoint (subprocesses, pyarrow)."""
    from moto.server import ThreadedMotoServer

    from tests.infra.moto_deploy import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing boto3 (in this process and in subprocesses) at the moto server."""
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def pytest_configure(config: pytest.Config) -> None:
    """moto's conditional writes made atomic, as AWS's are (tests/cloud_harness/atomic.py)."""
    from tests.cloud_harness import atomic

    atomic.install()
