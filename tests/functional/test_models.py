"""Bring your own model (issue 11): a factory and a trainer from the user's package, hyperparameters fed by run
parameters, two models in one spec each with its own champion, and scoring a registered model by alias."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import joblib
import pandas as pd
import pytest
import yaml

from stepml.app import make_store
from stepml.core.manifest import read_manifest
from stepml.errors import RunError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from stepml.store.lock import Owner
from stepml.store.models import Registries
from tests.conftest import ROOT, small_spec_dict

FEATURES = ["years_experience", "skill_score", "desired_hourly_rate", "region", "category", "rate_gap"]


def project(tmp_path: Path, sample_warehouse: Path, mutate: Any = None, name: str = "pipeline.yaml") -> Path:
    """A project with the example models package and a spec of two models: a logistic regression from the user's
    factory (its C fed by a run parameter) and the built-in gradient boosting, each with train -> gate -> score."""
    wd = tmp_path / "project"
    if not wd.exists():
        (wd / "myteam").mkdir(parents=True)
        shutil.copyfile(ROOT / "examples" / "job_matching" / "models.py", wd / "myteam" / "models.py")
        (wd / "myteam" / "__init__.py").write_text("")
        shutil.copytree(ROOT / "sql", wd / "sql")
        shutil.copyfile(sample_warehouse, wd / "warehouse.duckdb")
    raw = small_spec_dict(wd)
    base = raw.pop("model")
    shape = {k: base[k] for k in ("task", "target", "id_columns", "metric")}
    raw["params"]["c"] = {"type": "float", "default": 1.0, "min": 0.0001}
    raw["models"] = {
        "acceptance": {
            **shape,
            "features": FEATURES,
            "categorical": ["region", "category"],
            "factory": "myteam.models:logistic",
            "hyperparameters": {"C": {"param": "c"}, "max_iter": 300},
        },
        "acceptance-gbm": {
            **shape,
            "features": FEATURES,
            "categorical": ["region", "category"],
            "hyperparameters": {"max_iter": 15},
        },
    }
    steps = raw["steps"]
    steps["train"]["model"] = "acceptance"
    steps["train_gbm"] = {"type": "train", "model": "acceptance-gbm", "needs": ["extract_train"]}
    steps["gate_gbm"] = {"type": "gate", "needs": ["train_gbm"], "min_value": 0.5}
    steps["score_gbm"] = {"type": "score", "needs": ["gate_gbm", "extract_score"], "partitions": 2}
    steps["check"]["columns"] = {}
    if mutate is not None:
        mutate(raw)
    path = wd / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run(spec: Path, params: dict[str, Any] | None = None, **kw: Any) -> Any:
    pipeline = load_spec(spec)
    store = make_store(pipeline.spec.artifact_root)
    return pipeline, store, LocalRunner(pipeline, store).run(params or {}, **kw)


def manifest(pipeline: Any, store: Any, record: Any, step: str) -> dict[str, Any]:
    outcome = next(o for o in record.steps if o.name == step)
    found = read_manifest(store, pipeline.name, step, outcome.key)
    assert found is not None
    return found


def fitted(store: Any, m: dict[str, Any]) -> Any:
    folder = store.local_path(f"{m['prefix']}/model")
    return joblib.load(folder / "estimator.joblib"), json.loads((folder / "stepml_model.json").read_text())


def test_two_models_train_gate_and_score_each_with_its_own(tmp_path: Path, sample_warehouse: Path) -> None:
    spec = project(tmp_path, sample_warehouse)
    pipeline, store, record = run(spec)
    # the user's factory built the model: a scikit-learn logistic regression, saved without stepml code inside
    estimator, meta = fitted(store, manifest(pipeline, store, record, "train"))
    assert type(estimator.steps[-1][1]).__name__ == "LogisticRegression" and estimator.steps[-1][1].C == 1.0
    assert meta["factory"] == "myteam.models:logistic" and meta["name"] == "acceptance"
    assert b"stepml" not in (store.local_path(manifest(pipeline, store, record, "train")["prefix"]) / "model" /
                             "estimator.joblib").read_bytes()  # fmt: skip
    gbm, gbm_meta = fitted(store, manifest(pipeline, store, record, "train_gbm"))
    assert type(gbm.steps[-1][1]).__name__ == "HistGradientBoostingClassifier" and gbm_meta["name"] == "acceptance-gbm"
    # each chain registered under its own model, and each score step used its own champion
    registries = Registries(store, Owner.current("test"))
    assert registries.get("acceptance").champion()["version"] == 1  # type: ignore[index]
    assert registries.get("acceptance-gbm").champion()["version"] == 1  # type: ignore[index]
    for score, model in (("score", "acceptance"), ("score_gbm", "acceptance-gbm")):
        gate = manifest(pipeline, store, record, "gate" if model == "acceptance" else "gate_gbm")
        assert gate["summary"]["model"]["name"] == model
        m = manifest(pipeline, store, record, score)
        frame = pd.read_parquet(store.local_path(f"{m['prefix']}/data"))
        assert set(frame["model_version"]) == {"v1"} and frame["score"].between(0, 1).all()
    # the two models score differently: they are not the same model
    a = pd.read_parquet(store.local_path(f"{manifest(pipeline, store, record, 'score')['prefix']}/data"))
    b = pd.read_parquet(store.local_path(f"{manifest(pipeline, store, record, 'score_gbm')['prefix']}/data"))
    assert (
        not a.sort_values("invitation_id")["score"]
        .reset_index(drop=True)
        .equals(b.sort_values("invitation_id")["score"].reset_index(drop=True))
    )
    # a second run is fully cached (the champions are the runs' own candidates)
    _, _, again = run(spec)
    assert {o.status for o in again.steps} == {"cached"}


def test_a_run_parameter_reaches_the_fitted_model(tmp_path: Path, sample_warehouse: Path) -> None:
    spec = project(tmp_path, sample_warehouse)
    pipeline, store, first = run(spec, targets={"train"})
    pipeline, store, second = run(spec, {"c": "0.05"}, targets={"train"})
    one, two = manifest(pipeline, store, first, "train"), manifest(pipeline, store, second, "train")
    assert one["key"] != two["key"]
    estimator, meta = fitted(store, two)
    assert estimator.steps[-1][1].C == 0.05 and meta["hyperparameters"]["C"] == 0.05  # read back from the model
    assert two["summary"]["hyperparameters"] == {"C": 0.05, "max_iter": 300}
    assert one["summary"]["value"] != two["summary"]["value"]


def test_a_hyperparameter_the_model_rejects_is_named_before_training(tmp_path: Path, sample_warehouse: Path) -> None:
    def bad(raw: dict[str, Any]) -> None:
        raw["models"]["acceptance"]["hyperparameters"]["penalty_weight"] = 3

    spec = project(tmp_path, sample_warehouse, bad)
    with pytest.raises(RunError) as info:
        run(spec, targets={"train"})
    message = str(info.value)
    assert "train" in message and "myteam.models:logistic" in message and "penalty_weight" in message


def test_score_only_pipeline_uses_the_champion_without_retraining(tmp_path: Path, sample_warehouse: Path) -> None:
    spec = project(tmp_path, sample_warehouse)
    pipeline, store, record = run(spec)
    champion_digest = manifest(pipeline, store, record, "train")["summary"]["model"]["digest"]

    def score_only(raw: dict[str, Any]) -> None:
        raw["name"] = "daily-scores"
        keep = {"extract_score", "score", "check"}
        raw.pop("models")  # the model is declared (and trained) by the other pipeline
        raw["steps"] = {k: v for k, v in raw["steps"].items() if k in keep}
        raw["steps"]["score"] = {**raw["steps"]["score"], "needs": ["extract_score"], "model": "acceptance@champion"}

    daily = project(tmp_path, sample_warehouse, score_only, name="daily.yaml")
    d_pipeline, _, d_record = run(daily)
    assert [o.name for o in d_record.steps] == ["extract_score", "score", "check"]  # nothing is trained
    scored = manifest(d_pipeline, store, d_record, "score")
    assert scored["components"]["resolved"] == champion_digest  # the digest, never the alias, is in the key
    frame = pd.read_parquet(store.local_path(f"{scored['prefix']}/data"))
    assert set(frame["model_version"]) == {"v1"}
    # a new champion changes the score-only run's key: two champions never share a key
    registry = Registries(store, Owner.current("test")).get("acceptance")
    _, _, retrained = run(spec, {"c": "0.05"}, targets={"train"})
    new = manifest(pipeline, store, retrained, "train")
    registry.register({"train_key": new["key"], "value": 0.9, "digest": new["summary"]["model"]["digest"]},
                      source_prefix=f"{new['prefix']}/model", status="approved", promote=True)  # fmt: skip
    _, _, d_again = run(daily)
    outcome = {o.name: o for o in d_again.steps}
    assert outcome["score"].status == "ran" and outcome["score"].key != scored["key"]
    # and rolling back restores the first champion's key: its output is served from the cache
    registry.rollback()
    _, _, d_back = run(daily)
    assert {o.name: o.status for o in d_back.steps}["score"] == "cached"


def test_a_trainer_for_a_non_sklearn_model(tmp_path: Path, sample_warehouse: Path) -> None:
    def regression(raw: dict[str, Any]) -> None:
        raw["models"]["acceptance-gbm"] = {
            "task": "regression",
            "target": "accepted",
            "id_columns": ["invitation_id"],
            "features": ["years_experience", "skill_score", "rate_gap"],
            "metric": "rmse",
            "trainer": "myteam.models:LeastSquares",
            "hyperparameters": {"alpha": 0.5},
        }
        raw["steps"]["gate_gbm"]["min_value"] = 10.0  # rmse at most 10

    spec = project(tmp_path, sample_warehouse, regression)
    pipeline, store, record = run(spec, targets={"score_gbm"})
    m = manifest(pipeline, store, record, "train_gbm")
    folder = store.local_path(f"{m['prefix']}/model")
    meta = json.loads((folder / "stepml_model.json").read_text())
    assert meta["kind"] == "trainer" and list(meta["files"]) == ["artifacts/coefficients.json"]
    assert json.loads((folder / "artifacts" / "coefficients.json").read_text())["alpha"] == 0.5
    scored = pd.read_parquet(store.local_path(f"{manifest(pipeline, store, record, 'score_gbm')['prefix']}/data"))
    assert scored["prediction"].notna().all() and "score" not in scored


def example_spec(tmp_path: Path, sample_warehouse: Path) -> Path:
    """examples/job_matching/models.yaml on the small warehouse: three models (a factory, a text factory, the
    LightGBM trainer), each with its own train -> gate -> score chain."""
    wd = tmp_path / "example"
    wd.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_warehouse, wd / "warehouse.duckdb")
    raw: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "job_matching" / "models.yaml").read_text())
    raw["artifact_root"] = str(wd / "artifacts")
    raw["warehouse"]["local"] = {"path": str(wd / "warehouse.duckdb")}
    raw["project_root"] = str(ROOT)  # the example's code (examples.job_matching) is the project's
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    raw["steps"]["extract_train"]["min_rows"] = 100
    raw["steps"]["check"]["min_rows"] = 100
    raw["models"]["acceptance-lgbm"]["hyperparameters"]["num_boost_round"] = 30
    for gate in ("gate_logistic", "gate_text", "gate_lgbm"):
        raw["steps"][gate]["min_value"] = 0.55
    path = wd / "models.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_the_models_example_runs_in_the_moto_rig_as_it_does_locally(
    tmp_path: Path, sample_warehouse: Path, cloud: Any
) -> None:
    from stepml.cloud.handlers.models import group_name
    from tests.cloud_harness.rig import GROUP_PREFIX, failures

    spec = example_spec(tmp_path, sample_warehouse)
    pipeline = load_spec(spec)
    with cloud(pipeline) as rig:
        described = rig.run({})
        assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"]), default=str)
        there = rig.manifests()
        # every model registered in its own model package group, with the content digest the score key will hold
        sm = boto3.client("sagemaker", region_name="us-east-1")  # moto's state, shared with the rig
        for model, train in (("acceptance-logistic", "train_logistic"), ("acceptance-lgbm", "train_lgbm")):
            packages = sm.list_model_packages(ModelPackageGroupName=group_name(GROUP_PREFIX, model))
            [summary] = packages["ModelPackageSummaryList"]
            described_package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            digest = there[train]["summary"]["model"]["digest"]
            assert described_package["CustomerMetadataProperties"]["digest"] == digest
            assert described_package["ModelApprovalStatus"] == "Approved"

    # a second pipeline scores with the champion of one of them, resolved by the plan Lambda
    def score_only(raw: dict[str, Any]) -> None:
        raw["name"] = "daily-models"
        raw.pop("models")
        raw["steps"] = {k: raw["steps"][k] for k in ("extract_score", "features_score")}
        raw["steps"]["score"] = {"type": "score", "needs": ["features_score"],
                                 "model": "acceptance-lgbm@champion", "partitions": 1}  # fmt: skip

    daily_raw = yaml.safe_load(spec.read_text())
    score_only(daily_raw)
    daily_path = spec.with_name("daily.yaml")
    daily_path.write_text(yaml.safe_dump(daily_raw, sort_keys=False))
    with cloud(load_spec(daily_path), name="daily") as daily_rig:
        done = daily_rig.run({})
        assert done["status"] == "SUCCEEDED", json.dumps(failures(daily_rig, done["executionArn"]), default=str)
        scored = daily_rig.manifests()["score"]
        assert scored["components"]["resolved"] == there["train_lgbm"]["summary"]["model"]["digest"]
        assert scored["rows"] == there["score_lgbm"]["rows"]
    # locally the same spec computes the same keys, rows and metrics
    local_pipeline, store, record = run(spec)
    for outcome in record.steps:
        here = manifest(local_pipeline, store, record, outcome.name)
        assert (here["key"], here["rows"]) == (there[outcome.name]["key"], there[outcome.name]["rows"]), outcome.name
        if outcome.type == "train":
            assert here["summary"]["value"] == pytest.approx(there[outcome.name]["summary"]["value"])
        if outcome.name in ("train_logistic", "train_lgbm"):  # byte-identical models (PYTHONHASHSEED=0 in both);
            # a TfidfVectorizer pickles the id() of its stop-word list, so the text model's bytes differ per process
            assert here["summary"]["model"]["digest"] == there[outcome.name]["summary"]["model"]["digest"], outcome.name


def test_manual_approval_waits_for_a_person(tmp_path: Path, sample_warehouse: Path) -> None:
    from tests.conftest import stepml_cli

    def manual(raw: dict[str, Any]) -> None:
        raw["steps"]["gate"]["approval"] = "manual"
        for name in ("train_gbm", "gate_gbm", "score_gbm"):
            raw["steps"].pop(name)

    spec = project(tmp_path, sample_warehouse, manual)
    # a passing candidate awaits approval; with no champion to fall back to, nothing can be scored: a named error
    with pytest.raises(RunError, match=r"awaits approval: stepml models approve acceptance 1"):
        run(spec)
    import stepml

    [pending] = stepml.models(spec=spec)  # the notebook API: what stepml models prints
    assert (pending["model"], pending["version"], pending["status"], pending["alias"]) == (
        "acceptance",
        1,
        "pending",
        "challenger",
    )
    listed = stepml_cli(spec, "models")
    assert listed.returncode == 0, listed.stderr
    assert "pending" in listed.stdout and "challenger" in listed.stdout
    approved = stepml_cli(spec, "models", "approve", "acceptance", "1")
    assert approved.returncode == 0, approved.stderr
    # approved, v1 is the champion: the gate (whose key holds the champion) re-runs and keeps it; scoring goes on
    pipeline, store, record = run(spec)
    status = {o.name: o.status for o in record.steps}
    assert status["train"] == "cached" and status["score"] == "ran"
    m = manifest(pipeline, store, record, "score")
    assert set(pd.read_parquet(store.local_path(f"{m['prefix']}/data"))["model_version"]) == {"v1"}
    again = stepml_cli(spec, "models", "approve", "acceptance", "1")
    assert again.returncode != 0 and "not awaiting approval" in again.stderr
