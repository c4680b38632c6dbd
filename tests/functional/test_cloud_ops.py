"""``stepml start / cloud-status / resume / logs`` against moto, on the state machine the rig deploys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from typer.testing import CliRunner

from stepml.cli import app
from stepml.cloud import ops
from stepml.spec import load_spec
from tests.cloud_harness.rig import EXECUTE, REGION, Rig, open_rig

pytestmark = pytest.mark.slow
STEPS = ["extract_train", "extract_score", "train", "gate", "score", "check"]


@pytest.fixture
def rig(make_pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Rig, Path]]:
    for k, v in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    spec = make_pipeline()
    with mock_aws(config=EXECUTE), open_rig(load_spec(spec), tmp_path) as r:
        monkeypatch.setenv("STEPML_STATE_MACHINE_ARN", r.machine_arn)
        yield r, spec


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_start_validates_parameters_then_runs_and_status_shows_the_tree(rig: tuple[Rig, Path]) -> None:
    r, spec = rig
    # A bad parameter is refused before anything starts
    bad = cli("start", "--spec", str(spec), "--param", "score_days=0")
    assert bad.exit_code == 2 and "score_days" in bad.output
    assert r.sfn.list_executions(stateMachineArn=r.machine_arn)["executions"] == []
    # A good one starts an execution with the validated value as its input
    started = cli("start", "--spec", str(spec), "--param", "score_days=14", "--name", "nightly-1")
    assert started.exit_code == 0, started.output
    arn = started.output.strip()
    assert arn.endswith(":nightly-1")
    assert r.wait(arn)["status"] == "SUCCEEDED"
    assert json.loads(r.sfn.describe_execution(executionArn=arn)["input"]) == {"params": {"score_days": 14}}
    # cloud-status (by name) shows the same run tree as a local status: every step ran, with its key and rows
    shown = cli("cloud-status", "nightly-1", "--spec", str(spec), "--json")
    assert shown.exit_code == 0, shown.output
    tree = json.loads(shown.output)
    assert tree["status"] == "SUCCEEDED" and tree["params"]["score_days"] == 14
    manifests = r.manifests()
    assert [s["name"] for s in tree["steps"]] == STEPS
    for s in tree["steps"]:
        assert s["status"] == "ran" and s["key"] == manifests[s["name"]]["key"]
        assert s["rows"] == manifests[s["name"]]["rows"]
    text = cli("cloud-status", arn, "--spec", str(spec))
    assert text.exit_code == 0 and "SUCCEEDED" in text.output and "extract_train" in text.output


def test_resume_restarts_a_failed_execution_and_reuses_finished_steps(rig: tuple[Rig, Path]) -> None:
    r, spec = rig
    r.worker.faults["train: train"] = 2  # the training job fails, also on its retry
    failed = r.run()
    assert failed["status"] == "FAILED"
    status = cli("cloud-status", failed["executionArn"], "--spec", str(spec), "--json")
    assert status.exit_code == 1
    steps = {s["name"]: s["status"] for s in json.loads(status.output)["steps"]}
    assert steps["extract_train"] == "ran" and steps["train"] == "failed" and steps["gate"] == "not run"
    # When resumed (moto has no RedriveExecution: a new execution with the same input)
    resumed = cli("resume", failed["executionArn"], "--spec", str(spec))
    assert resumed.exit_code == 0 and "restarted as" in resumed.output
    again = r.wait(resumed.output.split()[-1])
    # Then the finished steps are cache hits and the rest runs
    results = r.output(again)["results"]
    assert {s: results[s]["status"] for s in STEPS} == {
        "extract_train": "cached",
        "extract_score": "cached",
        "train": "ran",
        "gate": "ran",
        "score": "ran",
        "check": "ran",
    }


def test_logs_prints_the_training_jobs_output(make_pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Given a training job that fails for real (scikit-learn rejects the hyperparameter)
    spec = make_pipeline(lambda raw: raw["model"]["hyperparameters"].update(max_iter=-1))
    with mock_aws(config=EXECUTE), open_rig(load_spec(spec), tmp_path) as r:
        monkeypatch.setenv("STEPML_STATE_MACHINE_ARN", r.machine_arn)
        done = r.run()
        assert done["status"] == "FAILED"
        # When the step's logs are asked for
        shown = cli("logs", "train", "--spec", str(spec), "--execution", done["name"])
        unknown = cli("logs", "nope", "--spec", str(spec))
    # Then the training job's CloudWatch stream shows the error
    assert shown.exit_code == 0, shown.output
    assert "/algo-1-" in shown.output and "max_iter" in shown.output
    assert unknown.exit_code == 1 and "nope" in unknown.output


class _Redrivable:
    """A Step Functions stand-in whose failed execution can be redriven (moto has no RedriveExecution)."""

    def __init__(self) -> None:
        self.redriven: list[str] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        return {"status": "FAILED", "redriveStatus": "REDRIVABLE", "stateMachineArn": "arn:sm", "input": "{}"}

    def redrive_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        self.redriven.append(executionArn)
        return {}


def test_resume_redrives_when_step_functions_allows_it() -> None:
    sfn = _Redrivable()
    assert ops.resume(sfn, "arn:exec") == ("redrive", "arn:exec")
    assert sfn.redriven == ["arn:exec"]
