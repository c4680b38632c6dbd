"""The user's model: factories and trainers checked before training, the saved model's digests, the spec's named
models, model lookups in the plan, and a project's pipelines found by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from stepml.core.plan import PlanInput, StepRecord, make_plan, recorded
from stepml.errors import SpecError, StepInputError, StepmlError
from stepml.spec import load_spec
from stepml.spec.project import pipeline_names, spec_path
from steps._factory import ModelShape, build_estimator, trainer_of
from steps._model import ESTIMATOR_FILE, MODEL_JSON, load_model
from steps.train.config import TrainConfig
from steps.train.entry import train, write_outputs
from tests.conftest import ROOT

SHAPE = ModelShape("classification", ("x",), ("color",), (), 0)


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    color = rng.choice(["red", "blue"], size=n)
    return pd.DataFrame({"id": range(n), "x": x, "color": color, "y": ((x + (color == "red")) > 0.5).astype(int)})


def config(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {"task": "classification", "target": "y", "features": ("x", "color"),
                            "categorical": ("color",), "id_columns": ("id",), "model_params": {"max_iter": 10}}  # fmt: skip
    return TrainConfig(**{**base, **kw})


# ----------------------------------------------------------------------------------------------- factories
def test_a_hyperparameter_the_booster_does_not_know_is_named() -> None:
    with pytest.raises(StepInputError, match=r"rejected the hyperparameters .*max_iterz"):
        build_estimator("steps._factory:gradient_boosting", SHAPE, {"max_iterz": 3}, step="fit")


def test_a_value_scikit_learn_rejects_is_named_before_fit() -> None:
    with pytest.raises(StepInputError, match=r"step 'fit'.*HistGradientBoostingClassifier.*learning_rate"):
        build_estimator("steps._factory:gradient_boosting", SHAPE, {"learning_rate": -1.0}, step="fit")


def test_a_factory_that_does_not_take_a_hyperparameter_is_named() -> None:
    ref = "examples.job_matching.models:logistic"
    with pytest.raises(StepInputError, match=r"logistic.*does not accept hyperparameter\(s\) \['alpha'\].*'C'"):
        build_estimator(ref, SHAPE, {"alpha": 1.0}, step="fit")
    built = build_estimator(ref, SHAPE, {"C": 0.3}, step="fit")
    assert built.steps[-1][1].C == 0.3  # the hyperparameter reached the estimator


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("nope.module:make", "cannot import 'nope.module'"),
        ("examples.job_matching.models:missing", "has no 'missing'"),
        ("examples.job_matching.models", "expected 'package.module:name'"),
    ],
)
def test_a_factory_that_cannot_be_found_is_named(ref: str, fragment: str) -> None:
    with pytest.raises(StepInputError, match=fragment):
        build_estimator(ref, SHAPE, {}, step="fit")


def test_hyperparameters_stepml_sets_are_refused() -> None:
    with pytest.raises(StepInputError, match=r"\['seed'\] are set by stepml"):
        build_estimator("steps._factory:gradient_boosting", SHAPE, {"seed": 3}, step="fit")


def test_a_trainer_is_checked_for_fit_load_and_its_hyperparameters() -> None:
    with pytest.raises(StepInputError, match=r"LeastSquares'\.fit does not accept hyperparameter\(s\) \['depth'\]"):
        trainer_of("examples.job_matching.models:LeastSquares", {"depth": 3}, step="fit")
    with pytest.raises(StepInputError, match=r"has no fit\(\)"):
        trainer_of("examples.job_matching.models:logistic", {}, step="fit")


# ----------------------------------------------------------------------------------------------- saved models
def test_the_saved_model_is_checked_against_its_digests(tmp_path: Path) -> None:
    data = frame()
    cfg = config()
    result = train(data, cfg, tmp_path)
    write_outputs(result, cfg, tmp_path, data)
    loaded = load_model(tmp_path, step="score")
    assert loaded.meta.kind == "estimator" and len(loaded.meta.digest) == 64
    np.testing.assert_array_equal(loaded.predict(data), result.model.predict(loaded.prepare(data)))
    (tmp_path / ESTIMATOR_FILE).write_bytes((tmp_path / ESTIMATOR_FILE).read_bytes()[:-10] + b"0123456789")
    with pytest.raises(StepInputError, match="does not match its recorded sha256"):
        load_model(tmp_path, step="score")
    meta = json.loads((tmp_path / MODEL_JSON).read_text())
    meta["files"] = {"../../etc/passwd": "0" * 64}
    (tmp_path / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(StepInputError, match="outside the model"):
        load_model(tmp_path, step="score")


def test_a_trainer_model_round_trips(tmp_path: Path) -> None:
    data = frame().assign(y=lambda f: 2.0 * f["x"] + 1.0)
    cfg = config(task="regression", metric="rmse", categorical=(), features=("x",),
                 trainer="examples.job_matching.models:LeastSquares", model_params={"alpha": 0.0})  # fmt: skip
    result = train(data, cfg, tmp_path)
    write_outputs(result, cfg, tmp_path, data)
    assert result.value < 1e-9  # the closed-form fit of an exact line
    loaded = load_model(tmp_path, step="score")
    assert loaded.meta.kind == "trainer" and list(loaded.meta.files) == ["artifacts/coefficients.json"]
    np.testing.assert_allclose(loaded.predict(data.head(3)), 2.0 * data["x"].head(3) + 1.0)


def test_a_failing_trainer_is_named_with_its_function(tmp_path: Path) -> None:
    data = frame()
    cfg = config(task="regression", metric="rmse", categorical=(), features=("x",),
                 trainer="examples.job_matching.models:LeastSquares", model_params={"alpha": "lots"})  # fmt: skip
    with pytest.raises(StepInputError, match=r"LeastSquares.fit failed: \w+"):
        train(data, cfg, tmp_path)


# ----------------------------------------------------------------------------------------------- the spec
def reference(mutate: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    mutate(raw)
    return raw


def spec_issues(tmp_path: Path, mutate: Any) -> str:
    (tmp_path / "sql").symlink_to(ROOT / "sql")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(reference(mutate)))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


def test_model_and_models_together_are_refused(tmp_path: Path) -> None:
    assert "either 'model'" in spec_issues(tmp_path, lambda raw: raw.update(models={"x": raw["model"]}))


def test_a_hyperparameter_fed_by_an_undeclared_parameter_is_refused(tmp_path: Path) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["model"]["hyperparameters"]["learning_rate"] = {"param": "lr"}

    assert "undeclared run parameter(s) ['lr']" in spec_issues(tmp_path, mutate)


def test_a_train_step_naming_an_unknown_model_is_refused(tmp_path: Path) -> None:
    assert "unknown model 'other'" in spec_issues(tmp_path, lambda raw: raw["steps"]["train"].update(model="other"))


# ----------------------------------------------------------------------------------------------- plan lookups
def lookup_input(**lookup: Any) -> PlanInput:
    return PlanInput(
        "p",
        {},
        (
            StepRecord("train", "train", (), (), {}, "c"),
            StepRecord("gate", "gate", ("train",), (), {}, "c", lookup={"model": "m", "alias": "champion", **lookup}),
        ),
    )


def test_the_resolved_digest_not_the_alias_is_in_the_key() -> None:
    a = make_plan(lookup_input(), {}, recorded({"gate": {"version": 1, "digest": "d1"}}))
    b = make_plan(lookup_input(), {}, recorded({"gate": {"version": 2, "digest": "d2"}}))
    assert a.step("gate").components["resolved"] == "d1" and a.step("gate").key != b.step("gate").key
    assert a.step("gate").resolved == {"version": 1, "digest": "d1"}


def test_the_candidate_itself_as_champion_keeps_the_key_of_no_champion() -> None:
    none = make_plan(lookup_input(unless_from="train"), {}, recorded({}))
    train_key = none.step("train").key
    itself = recorded({"gate": {"version": 1, "digest": "d1", "train_key": train_key}})
    assert make_plan(lookup_input(unless_from="train"), {}, itself).step("gate").key == none.step("gate").key


def test_a_required_model_that_does_not_exist_is_an_error_before_anything_runs() -> None:
    with pytest.raises(StepmlError, match=r"model m@champion does not exist yet"):
        make_plan(lookup_input(required=True), {}, recorded({}))
    with pytest.raises(StepmlError, match="nothing can resolve it"):
        make_plan(lookup_input(), {})


# ----------------------------------------------------------------------------------------------- projects
def test_the_repository_project_lists_its_pipelines_by_name() -> None:
    names = pipeline_names(ROOT)
    assert names["job-matching"] == ROOT / "pipeline.yaml"
    assert names["daily-scores"] == ROOT / "pipelines" / "daily_scores.yaml"
    assert spec_path("daily-scores", ROOT) == ROOT / "pipelines" / "daily_scores.yaml"
    with pytest.raises(SpecError, match="no spec file or pipeline named 'nope'"):
        spec_path("nope", ROOT)


def test_a_folder_without_a_project_file_uses_pipeline_yaml_and_pipelines(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipeline.yaml").write_text("name: one\n")
    (tmp_path / "pipelines" / "b.yaml").write_text("name: two\n")
    assert pipeline_names(tmp_path) == {"one": tmp_path / "pipeline.yaml", "two": tmp_path / "pipelines" / "b.yaml"}
    (tmp_path / "pipelines" / "c.yaml").write_text("name: two\n")
    with pytest.raises(SpecError, match="also defined in"):
        pipeline_names(tmp_path)


def test_the_factory_source_is_in_the_train_key() -> None:
    pipeline = load_spec(ROOT / "examples" / "job_matching" / "models.yaml")
    assert "examples/job_matching/models.py" in pipeline.code_digest("train_logistic").files(ROOT)
    assert "examples/job_matching/models.py" in pipeline.code_digest("train_lgbm").files(ROOT)  # a trainer too
    default = load_spec(ROOT / "pipeline.yaml")
    assert "steps/_factory.py" in default.code_digest("train").files(ROOT)  # the built-in default


def test_a_pipeline_is_run_by_name_from_the_project_folder(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "pipelines").mkdir()
    raw = yaml.safe_load((ROOT / "pipelines" / "daily_scores.yaml").read_text())
    raw["steps"]["extract_score"]["sql"] = str(ROOT / "sql" / "scoring_set.sql")
    raw["steps"]["extract_score"]["data_version"] = {"enabled": False}  # this project has no warehouse file
    (tmp_path / "pipelines" / "daily.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "stepml.yaml").write_text("pipelines: [pipelines/*.yaml]\n")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "stepml.cli", "plan", "--pipeline", "daily-scores"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    # found by name; it looks up job-matching@champion, which this fresh project has not trained: a named error
    assert done.returncode != 0 and "model job-matching@champion does not exist yet" in done.stderr, done.stderr
    wrong = subprocess.run([sys.executable, "-m", "stepml.cli", "plan", "--pipeline", "nightly"], cwd=tmp_path,
                           capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert (
        wrong.returncode == 2
        and "no spec file or pipeline named 'nightly' (pipelines here: daily-scores)" in wrong.stderr
    )
