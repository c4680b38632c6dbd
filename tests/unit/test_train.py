"""Training step: hyperparameter parsing, the pure core, the SageMaker-shaped adapter and entrypoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stepml.errors import StepInputError
from steps._model import ESTIMATOR_FILE as MODEL_FILE
from steps._model import METRICS_FILE, PROFILE_FILE
from steps._model import MODEL_JSON as META_FILE
from steps.train.config import TrainConfig
from steps.train.entry import run, train

REPO = Path(__file__).resolve().parents[2]

HYPERPARAMETERS = {
    "step": "train",
    "task": "classification",
    "target": "label",
    "features": json.dumps(["x1", "x2", "noise", "color"]),
    "categorical": json.dumps(["color"]),
    "id_columns": json.dumps(["customer_id"]),
    "metric": "roc_auc",
    "validation_fraction": "0.25",
    "seed": "7",
    "model_params": json.dumps({"max_iter": 30, "learning_rate": 0.2}),
    "threads": "1",
}


def make_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A learnable binary problem: the label depends on x1, x2 and color; noise is noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2.5 * x1 - 1.5 * x2 + np.where(color == "red", 2.0, -1.0)
    label = (logit + rng.normal(scale=0.5, size=n) > 0).astype(np.int64)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "x1": x1,
            "x2": x2,
            "noise": rng.normal(size=n),
            "color": color,
            "label": label,
            "amount": 3.0 * x1 + np.where(color == "red", 5.0, 0.0) + rng.normal(scale=0.3, size=n),
        }
    )
    frame.loc[::11, "x2"] = np.nan  # missing numerics are allowed
    frame.loc[::13, "color"] = None  # and missing categories
    return frame


def config(**overrides: str) -> TrainConfig:
    return TrainConfig.from_hyperparameters({**HYPERPARAMETERS, **overrides})


def sm_dirs(tmp_path: Path, hyperparameters: dict[str, str]) -> dict[str, str]:
    """An /opt/ml-shaped tree under tmp_path; returns the SM_* environment for it."""
    env = {
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_CHANNEL_TRAIN": str(tmp_path / "input" / "data" / "train"),
        "SM_INPUT_CONFIG_DIR": str(tmp_path / "input" / "config"),
        "SM_OUTPUT_DIR": str(tmp_path / "output"),
    }
    for key in ("SM_CHANNEL_TRAIN", "SM_INPUT_CONFIG_DIR"):
        Path(env[key]).mkdir(parents=True)
    (Path(env["SM_INPUT_CONFIG_DIR"]) / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return env


def write_parts(frame: pd.DataFrame, channel: Path, parts: int = 2) -> list[Path]:
    paths = []
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        path = channel / f"part-{i:05d}.parquet"
        frame.iloc[chunk].to_parquet(path, index=False)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------- config


def test_hyperparameter_strings_become_typed_values() -> None:
    cfg = config()
    assert cfg.task == "classification"
    assert cfg.features == ("x1", "x2", "noise", "color")
    assert cfg.categorical == ("color",)
    assert cfg.numeric == ("x1", "x2", "noise")
    assert cfg.id_columns == ("customer_id",)
    assert cfg.validation_fraction == 0.25
    assert cfg.seed == 7
    assert cfg.threads == 1
    assert cfg.model_params == {"max_iter": 30, "learning_rate": 0.2}
    assert cfg.higher_is_better is True


def test_hyperparameter_defaults() -> None:
    cfg = TrainConfig.from_hyperparameters({"task": "regression", "target": "y", "features": '["a"]'})
    assert (cfg.step, cfg.metric, cfg.validation_fraction, cfg.seed, cfg.threads) == ("train", "rmse", 0.2, 0, 0)
    assert cfg.higher_is_better is False
    assert cfg.categorical == () and cfg.id_columns == () and cfg.model_params == {}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"seed": "seven"}, "'seed': expected an integer, got 'seven'"),
        ({"features": "x1,x2"}, "'features': expected JSON"),
        ({"categorical": '{"a": 1}'}, "'categorical': expected a JSON list"),
        ({"validation_fraction": "lots"}, "'validation_fraction': expected a number"),
        ({"validation_fraction": "1.5"}, "'validation_fraction': expected a number in (0, 1)"),
        ({"model_params": "[1]"}, "'model_params': expected a JSON object"),
        ({"model_params": '{"max_iterz": 3}'}, "'model_params'"),
        ({"model_params": '{"learning_rate": -1}'}, "learning_rate"),
        ({"model_params": '{"random_state": 1}'}, "set by stepml"),
        ({"task": "clustering"}, "'task': expected one of"),
        ({"metric": "rmse"}, "'metric': expected one of ['roc_auc', 'log_loss', 'accuracy']"),
        ({"categorical": '["color", "shape"]'}, "'categorical': ['shape'] are not in 'features'"),
        ({"features": '["x1", "label"]', "categorical": "[]"}, "contains the target column 'label'"),
        ({"id_columns": '["prediction"]'}, "reserved"),
        ({"threads": "-1"}, "'threads'"),
        ({"colour": "red"}, "unknown keys ['colour']"),
    ],
)
def test_bad_hyperparameters_name_the_key(overrides: dict[str, str], expected: str) -> None:
    with pytest.raises(StepInputError, match="invalid hyperparameters") as info:
        config(**overrides)
    assert expected in info.value.message
    assert info.value.step == "train"


def test_missing_required_hyperparameters_are_all_reported() -> None:
    with pytest.raises(StepInputError) as info:
        TrainConfig.from_hyperparameters({"step": "fit", "task": "regression"})
    assert info.value.step == "fit"
    assert "'target': required" in info.value.message
    assert "'features': required" in info.value.message


# --------------------------------------------------------------------------------------------- core


def test_train_learns_a_learnable_classification_problem() -> None:
    frame = make_frame()
    result = train(frame, config())
    assert result.metric == "roc_auc"
    assert result.value == result.metrics["roc_auc"]
    assert 0.85 < result.value <= 1.0
    assert result.metrics["accuracy"] > 0.75
    assert set(result.metrics) == {"roc_auc", "log_loss", "accuracy"}
    assert (result.n_train, result.n_validation) == (180, 60)
    assert result.classes == (0, 1)
    assert list(result.validation.columns) == [
        "customer_id", "x1", "x2", "noise", "color", "label", "prediction", "score",
    ]  # fmt: skip
    assert len(result.validation) == 60
    assert result.validation["score"].between(0, 1).all()
    # the model predicts raw frames, unseen categories included
    unseen = frame.head(5).copy()
    unseen["color"] = pd.Series(["purple", None, "red", "red", "blue"], dtype=object, index=unseen.index)
    assert set(result.model.predict(unseen[list(config().features)])) <= {0, 1}


def test_train_is_deterministic_for_a_seed() -> None:
    frame = make_frame()
    first, second = train(frame, config()), train(frame, config())
    assert first.metrics == second.metrics
    assert first.validation["customer_id"].tolist() == second.validation["customer_id"].tolist()
    other = train(frame, config(seed="8"))
    assert other.validation["customer_id"].tolist() != first.validation["customer_id"].tolist()


def test_train_regression() -> None:
    cfg = config(task="regression", target="amount", metric="r2")
    result = train(make_frame(), cfg)
    assert result.metrics["r2"] > 0.8
    assert result.metrics["rmse"] > 0 and result.metrics["mae"] > 0
    assert result.classes is None
    assert "score" not in result.validation.columns


def test_train_multiclass() -> None:
    frame = make_frame(300).dropna(subset=["color"])
    cfg = config(target="color", features='["x1", "x2"]', categorical="[]", metric="accuracy")
    result = train(frame, cfg)
    assert result.classes == ("blue", "green", "red")
    assert "roc_auc" in result.metrics and "score" not in result.validation.columns


def test_nan_target_is_an_input_error() -> None:
    frame = make_frame().astype({"label": "float64"})
    frame.loc[[3, 5, 8], "label"] = np.nan
    with pytest.raises(StepInputError, match=r"target column 'label' has 3 NaN/NULL value\(s\) in 240 rows"):
        train(frame, config())


def test_missing_column_is_an_input_error() -> None:
    with pytest.raises(StepInputError, match=r"missing column\(s\) \['noise'\]"):
        train(make_frame().drop(columns=["noise"]), config())


def test_too_few_rows_and_single_class() -> None:
    with pytest.raises(StepInputError, match="has 12 row"):
        train(make_frame().head(12), config())
    with pytest.raises(StepInputError, match="single class"):
        train(make_frame().assign(label=1), config())


def test_string_in_numeric_feature_is_an_input_error() -> None:
    with pytest.raises(StepInputError, match="feature 'noise' has non-numeric values"):
        train(make_frame().assign(noise="high"), config())


# --------------------------------------------------------------------------------------------- adapter


def test_run_reads_every_part_and_writes_outputs(tmp_path: Path) -> None:
    env = sm_dirs(tmp_path, HYPERPARAMETERS)
    frame = make_frame()
    write_parts(frame, Path(env["SM_CHANNEL_TRAIN"]), parts=3)
    result = run(env)
    assert result.n_train + result.n_validation == len(frame)
    model_dir = Path(env["SM_MODEL_DIR"])
    metrics = json.loads((model_dir / METRICS_FILE).read_text())
    assert metrics["metric"] == "roc_auc" and metrics["higher_is_better"] is True
    assert metrics["value"] == pytest.approx(result.value)
    assert (metrics["n_train"], metrics["n_validation"]) == (180, 60)
    meta = json.loads((model_dir / META_FILE).read_text())
    assert meta["classes"] == [0, 1] and meta["target"] == "label" and meta["categorical"] == ["color"]
    assert {"python", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib"} <= set(meta["versions"])
    assert meta["format"] == "stepml.model/1" and meta["kind"] == "estimator"
    assert meta["factory"] == "steps._factory:gradient_boosting"
    assert meta["hyperparameters"] == {"max_iter": 30, "learning_rate": 0.2}
    assert list(meta["files"]) == [MODEL_FILE] and len(meta["digest"]) == 64
    profile = json.loads((model_dir / PROFILE_FILE).read_text())
    assert set(profile["columns"]) == {"x1", "x2", "noise", "color", "prediction", "score"}
    assert profile["columns"]["prediction"]["role"] == profile["columns"]["score"]["role"] == "prediction"
    # features from every training row, the model's outputs from the out-of-sample validation rows
    assert profile["columns"]["x1"]["count"] == 240 and profile["columns"]["score"]["count"] == 60
    assert (model_dir / MODEL_FILE).is_file()


def test_features_profiled_while_the_model_fits_give_the_same_reference(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from monitoring.profile import build_reference
    from steps._model import prepare_features
    from steps.train.entry import write_outputs
    from steps.train.reference import profile_features

    # Given the training set's features profiled in a thread (as run() does while the model fits)
    frame, cfg = make_frame(), config()
    with ThreadPoolExecutor(max_workers=1) as pool:
        reference = pool.submit(profile_features, frame, cfg)
        result = train(frame, cfg)
        write_outputs(result, cfg, tmp_path, frame, reference)
    # Then profile.json is the reference built in one go: features on every row, outputs on the validation rows
    expected = build_reference(
        prepare_features(frame, cfg.numeric, cfg.categorical),
        result.validation,
        numeric=cfg.numeric,
        categorical=cfg.categorical,
        prediction_kind="categorical",
    )
    assert json.loads((tmp_path / PROFILE_FILE).read_text()) == json.loads(json.dumps(expected))
    sample = pd.read_parquet(tmp_path / "reference_sample.parquet")
    assert len(sample) == len(frame) and sample["score"].notna().sum() == result.n_validation


def test_missing_columns_are_named_with_their_files(tmp_path: Path) -> None:
    env = sm_dirs(tmp_path, HYPERPARAMETERS)
    channel = Path(env["SM_CHANNEL_TRAIN"])
    write_parts(make_frame().drop(columns=["noise", "x2"]), channel, parts=2)
    with pytest.raises(StepInputError) as info:
        run(env)
    message = info.value.message
    assert "missing column(s) ['x2', 'noise']" in message
    assert "2 of 2 file(s): part-00000.parquet, part-00001.parquet" in message


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    env = sm_dirs(tmp_path, HYPERPARAMETERS)
    channel = Path(env["SM_CHANNEL_TRAIN"])
    write_parts(make_frame(), channel, parts=1)
    (channel / "part-00001.parquet").write_bytes(b"this is not parquet at all" * 10)
    with pytest.raises(StepInputError, match=r"part-00001\.parquet is not a readable parquet file"):
        run(env)


def test_empty_channel_is_an_input_error(tmp_path: Path) -> None:
    env = sm_dirs(tmp_path, HYPERPARAMETERS)
    with pytest.raises(StepInputError, match=r"no \*\.parquet files in .*train"):
        run(env)


def test_entrypoint_success(tmp_path: Path) -> None:
    env = sm_dirs(tmp_path, HYPERPARAMETERS)
    write_parts(make_frame(), Path(env["SM_CHANNEL_TRAIN"]))
    proc = subprocess.run(
        [sys.executable, "-m", "steps.train.entry"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    model_dir = Path(env["SM_MODEL_DIR"])
    for name in (MODEL_FILE, META_FILE, METRICS_FILE, PROFILE_FILE):
        assert (model_dir / name).is_file(), name
    assert not (Path(env["SM_OUTPUT_DIR"]) / "failure").exists()


def test_entrypoint_bad_input_exits_2_with_failure_file(tmp_path: Path) -> None:
    env = sm_dirs(tmp_path, {**HYPERPARAMETERS, "step": "fit_model"})
    frame = make_frame().astype({"label": "float64"})
    frame.loc[[1, 2], "label"] = np.nan
    write_parts(frame, Path(env["SM_CHANNEL_TRAIN"]))
    proc = subprocess.run(
        [sys.executable, "-m", "steps.train.entry"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    failure = json.loads((Path(env["SM_OUTPUT_DIR"]) / "failure").read_text())
    assert failure["error"] == "StepInputError"
    assert failure["step"] == "fit_model"
    assert "2 NaN/NULL" in failure["message"]
    assert "2 NaN/NULL" in proc.stderr
