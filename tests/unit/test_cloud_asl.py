"""stepml.cloud.asl: the pure spec -> ASL compiler, and `stepml asl`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepml.cloud.asl import compile_definition, compile_pipeline, named_states, resolve
from stepml.errors import ParamError
from stepml.spec import load_spec
from steps.train.spec import TrainStep
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return compile_definition(load_spec(ROOT / "pipeline.yaml"))


def test_compiling_is_pure_and_deterministic(
    definition: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no AWS credentials and a read-only view of the world, compiling twice gives the same document
    monkeypatch.chdir(tmp_path)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    again = compile_definition(load_spec(ROOT / "pipeline.yaml"))
    assert again == definition
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_steps_run_in_plan_order_after_the_plan(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Input" and states["Input"]["Choices"][0]["Next"] == "Plan"
    # the extracts' branches run side by side: extract_score while train trains, then score and check
    parallel = states[states[states["Plan"]["Next"]]["Default"]]  # after "All cached?" (not all cached)
    assert parallel["Type"] == "Parallel"
    assert [b["StartAt"] for b in parallel["Branches"]] == ["extract_train: cache check", "extract_score: cache check"]
    chain = parallel["Branches"][0]["States"]
    assert chain["extract_train: waiters?"]["Default"] == "train: cache check"
    assert chain["train: waiters?"]["Default"] == "gate: cache check"
    assert chain["gate: cached"]["End"] is True  # the last step of a branch ends it
    assert states[parallel["Next"]]["Default"] == "score: cache check"  # after "Parallel 1: failed?" (none failed)
    assert states["score: waiters?"]["Default"] == "check: cache check"
    assert states["check: waiters?"]["Default"] == "Succeeded"


def test_train_uses_the_spec_resources_and_hyperparameters(definition: dict[str, Any]) -> None:
    pipeline = load_spec(ROOT / "pipeline.yaml")
    train = named_states(definition["States"])["train: train"]
    params = train["Parameters"]
    step = pipeline.step("train")
    assert isinstance(step, TrainStep)
    # the plan Lambda fills run parameters into the hyperparameters (steps.train.cloud.plan_entry)
    assert params["HyperParameters.$"] == "$.plan.steps.train.hyperparameters"
    assert params["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert params["StoppingCondition"]["MaxRuntimeInSeconds"] == 60 * 60
    assert params["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python", "-m", "steps.train.entry"]
    assert train["Retry"][-1]["MaxAttempts"] == 1  # resources.retries


def test_gate_is_a_choice_on_the_metric_then_champion(definition: dict[str, Any]) -> None:
    states = named_states(definition["States"])
    promote = states["gate: promote?"]["Choices"][0]["And"]
    assert {"Variable": "$.results.train.summary.value", "NumericGreaterThanEquals": 0.70} in promote
    assert states["gate: register candidate"]["Resource"].endswith("sagemaker:createModelPackage")
    assert states["gate: approve"]["Parameters"]["ModelApprovalStatus"] == "Approved"
    assert states["gate: keep champion?"]["Default"] == "gate: rejected"


def test_lower_is_better_metrics_flip_the_comparison(make_pipeline: Callable[..., Path]) -> None:
    def regression(raw: dict[str, Any]) -> None:
        raw["model"]["task"] = "regression"
        raw["model"]["metric"] = "rmse"
        raw["steps"]["gate"]["min_value"] = 0.5

    states = named_states(compile_definition(load_spec(make_pipeline(regression)))["States"])
    assert {"Variable": "$.results.train.summary.value", "NumericLessThanEquals": 0.5} in states["gate: promote?"][
        "Choices"
    ][0]["And"]


def test_redshift_engine_uses_the_data_api_with_polling(make_pipeline: Callable[..., Path]) -> None:
    def redshift(raw: dict[str, Any]) -> None:
        raw["warehouse"]["engine"] = "redshift"
        raw["warehouse"]["redshift"] = {"database": "dev", "workgroup": "analytics"}

    pipeline = load_spec(make_pipeline(redshift))
    states = named_states(compile_definition(pipeline)["States"])
    assert states["extract_train: query"]["Resource"] == "arn:aws:states:::aws-sdk:redshiftdata:executeStatement"
    assert states["extract_train: query done?"]["Default"] == "extract_train: wait for query"
    assert "RedshiftTarget" in compile_pipeline(pipeline).substitutions
    assert "AthenaWorkGroup" not in compile_pipeline(pipeline).substitutions


def test_resolve_fills_every_placeholder(definition: dict[str, Any]) -> None:
    text = json.dumps(resolve(definition, {"ArtifactBucket": "my-bucket"}))
    assert "${" not in text
    assert '"Bucket": "my-bucket"' in text


def test_stepml_asl_prints_the_definition_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from stepml.cli import app

    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["asl", "--param", "lookback_days=90"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == compile_definition(load_spec(ROOT / "pipeline.yaml"))
    bad = CliRunner().invoke(app, ["asl", "--param", "lookback_days=x"])
    assert isinstance(bad.exception, ParamError)  # stepml.cli.main maps it to exit code 2
