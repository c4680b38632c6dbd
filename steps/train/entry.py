"""Training entrypoint, written to SageMaker's training container contract; ``python -m steps.train.entry``.

Paths come from the environment, with SageMaker's defaults:

    SM_CHANNEL_TRAIN      /opt/ml/input/data/train   one or more *.parquet files (read in name order)
    SM_CHANNEL_MANIFEST   /opt/ml/input/data/manifest  in AWS: the table's committed ``_manifest.json``; the train
                                                     channel's files are checked against it (ETag or sha256)
    SM_INPUT_CONFIG_DIR   /opt/ml/input/config       hyperparameters.json (every value a string)
    SM_MODEL_DIR          /opt/ml/model              stepml_model.json, estimator.joblib (or artifacts/ of a
                                                     trainer), metrics.json, profile.json, reference_sample.parquet
    SM_OUTPUT_DIR         /opt/ml/output             ``failure`` (JSON) when the job fails

:func:`train` is the pure core (no environment, no files); :func:`run` is the adapter around it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from stepml.core.layout import MANIFEST
from stepml.entry import guarded
from stepml.errors import StepInputError
from steps._model import (
    ESTIMATOR_FILE,
    METRICS_FILE,
    MIN_TRAIN_ROWS,
    MODEL_JSON,
    PREDICTION,
    SCORE,
    ModelMeta,
    distribution_of,
    model_files,
    package_versions,
    prepare_features,
    thread_limit,
)
from steps._parquet import check_files, list_parquet_files, open_parquet, read_parquet_files
from steps.train.config import TrainConfig
from steps.train.fit import fit_model, predict_proba
from steps.train.reference import FeatureReference, profile_features, write_json, write_reference

__all__ = ["TrainConfig", "TrainResult", "load_hyperparameters", "main", "run", "train", "write_outputs"]


@dataclass(frozen=True)
class TrainResult:
    """A fitted model and how it did on the held-out validation rows."""

    model: Any  # the fitted estimator (or a trainer's loaded predictor)
    metric: str
    value: float
    higher_is_better: bool
    metrics: dict[str, float]  # every metric computed for the task
    validation: pd.DataFrame  # validation rows: id columns, features, target, prediction (+ score if binary)
    n_train: int
    n_validation: int
    classes: tuple[Any, ...] | None  # classification: labels in the model's order

    def metrics_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "higher_is_better": self.higher_is_better,
            "metrics": dict(self.metrics),
            "n_train": self.n_train,
            "n_validation": self.n_validation,
        }


# --------------------------------------------------------------------------------------------- core


def train(frame: pd.DataFrame, config: TrainConfig, model_dir: Path | None = None, built: Any = None) -> TrainResult:
    """Fit the model on a seeded train/validation split of ``frame`` and score it on the validation rows.

    ``model_dir``: where a trainer writes its model (under ``artifacts/``); a temporary folder when None.
    ``built``: what ``config.build()`` returned (built here when None)."""
    from sklearn.model_selection import train_test_split

    step = config.step
    if built is None:
        built = config.build()  # the hyperparameters are checked before anything is fitted
    missing = [c for c in (config.target, *config.features, *config.id_columns) if c not in frame.columns]
    if missing:
        raise StepInputError(step, f"missing column(s) {missing} in the training data")
    for name in config.numeric:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        try:
            pd.to_numeric(column)
        except (ValueError, TypeError) as exc:
            raise StepInputError(
                step,
                f"feature {name!r} has non-numeric values ({exc}); declare it in 'categorical' if it is a category",
            ) from exc
    frame = frame.reset_index(drop=True)
    y = _target(frame[config.target], config)
    n = len(frame)
    if n < MIN_TRAIN_ROWS:
        raise StepInputError(step, f"training data has {n} row(s); at least {MIN_TRAIN_ROWS} are needed")
    n_validation = math.ceil(n * config.validation_fraction)
    if n - n_validation < 1:
        raise StepInputError(
            step, f"validation_fraction {config.validation_fraction} leaves no training rows out of {n}"
        )

    stratify = None
    if config.task == "classification":
        labels, counts = np.unique(y, return_counts=True)
        if len(labels) < 2:
            raise StepInputError(
                step,
                f"target column {config.target!r} has a single class ({labels[0]!r}) in {n} rows; "
                "classification needs at least two",
            )
        if counts.min() >= 2 and len(labels) <= min(n_validation, n - n_validation):
            stratify = y
    train_idx, valid_idx = train_test_split(
        np.arange(n), test_size=n_validation, random_state=config.seed, shuffle=True, stratify=stratify
    )
    train_idx, valid_idx = np.sort(train_idx), np.sort(valid_idx)
    y_train, y_valid = y[train_idx], y[valid_idx]
    if config.task == "classification" and len(np.unique(y_train)) < 2:
        raise StepInputError(step, f"the training split of {config.target!r} has a single class")

    features = prepare_features(frame, config.numeric, config.categorical, config.text)
    x_valid = features.iloc[valid_idx]
    with thread_limit(config.threads):
        model = fit_model(built, config, features, y, train_idx, valid_idx, model_dir)
        prediction = np.asarray(model.predict(x_valid))
        proba = predict_proba(model, x_valid, config) if config.task == "classification" else None

    classes = None
    if config.task == "classification":
        known = getattr(model, "classes_", None)
        classes = tuple(np.asarray(known if known is not None else np.unique(y_train)).tolist())
    metrics = _metrics(config, y_valid, prediction, proba, classes)
    if config.metric not in metrics:
        raise StepInputError(
            step,
            f"metric {config.metric!r} cannot be computed: the validation rows do not contain every class "
            f"of {config.target!r}; use more data or a larger validation_fraction",
        )

    validation = frame.iloc[valid_idx][[*config.id_columns, *config.features, config.target]].copy()
    validation[PREDICTION] = prediction
    if proba is not None and proba.shape[1] == 2:
        validation[SCORE] = proba[:, 1]
    return TrainResult(
        model=model,
        metric=config.metric,
        value=metrics[config.metric],
        higher_is_better=config.higher_is_better,
        metrics=metrics,
        validation=validation.reset_index(drop=True),
        n_train=len(train_idx),
        n_validation=len(valid_idx),
        classes=classes,
    )


def _target(column: pd.Series[Any], config: TrainConfig) -> np.ndarray[Any, Any]:
    nulls = int(column.isna().sum())
    if nulls:
        raise StepInputError(
            config.step,
            f"target column {config.target!r} has {nulls} NaN/NULL value(s) in {len(column)} rows; "
            "filter them out in the extract",
        )
    if config.task == "regression":
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            raise StepInputError(
                config.step,
                f"target column {config.target!r} has type {column.dtype}; regression needs a numeric target",
            )
        y = column.to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            raise StepInputError(
                config.step,
                f"target column {config.target!r} has {int((~np.isfinite(y)).sum())} infinite value(s)",
            )
        return y
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(column.dtype.categories.dtype)
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64)
    return column.astype(str).to_numpy(dtype=object)


def _metrics(
    config: TrainConfig,
    y: np.ndarray[Any, Any],
    prediction: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    classes: tuple[Any, ...] | None,
) -> dict[str, float]:
    from sklearn import metrics as m

    if config.task == "regression":
        return {
            "rmse": float(m.root_mean_squared_error(y, prediction)),
            "mae": float(m.mean_absolute_error(y, prediction)),
            "r2": float(m.r2_score(y, prediction)),
        }
    assert proba is not None and classes is not None
    out = {
        "accuracy": float(m.accuracy_score(y, prediction)),
        "log_loss": float(m.log_loss(y, proba, labels=list(classes))),
    }
    if len(np.unique(y)) == len(classes):  # AUC needs every class in the validation rows
        if len(classes) == 2:
            out["roc_auc"] = float(m.roc_auc_score(y == classes[1], proba[:, 1]))
        else:
            out["roc_auc"] = float(m.roc_auc_score(y, proba, multi_class="ovr", labels=list(classes)))
    return out


# --------------------------------------------------------------------------------------------- adapter


def load_hyperparameters(config_dir: Path, *, step: str = "train") -> dict[str, Any]:
    path = config_dir / "hyperparameters.json"
    if not path.is_file():
        raise StepInputError(step, f"{path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise StepInputError(step, f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StepInputError(step, f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def write_outputs(
    result: TrainResult,
    config: TrainConfig,
    model_dir: Path,
    training: pd.DataFrame | None = None,
    reference: FeatureReference | Future[FeatureReference] | None = None,
) -> None:
    """Write the model (estimator.joblib; a trainer's artifacts/ are already there), stepml_model.json,
    profile.json, reference_sample.parquet and (last) metrics.json to ``model_dir``. The features' reference is
    ``reference`` (:func:`~steps.train.reference.profile_features`, possibly still being computed), or profiled
    here on ``training``, the whole training frame (default: the validation rows)."""
    import joblib

    model_dir.mkdir(parents=True, exist_ok=True)
    kind: Literal["estimator", "trainer"] = "trainer" if config.trainer else "estimator"
    if kind == "estimator":
        joblib.dump(result.model, model_dir / ESTIMATOR_FILE)
    meta = ModelMeta(
        task=config.task,
        target=config.target,
        features=config.features,
        categorical=config.categorical,
        id_columns=config.id_columns,
        classes=result.classes,
        versions=package_versions(distribution_of(config.trainer or config.factory)),
        text=config.text,
        kind=kind,
        name=config.model,
        factory=None if config.trainer else config.factory,
        trainer=config.trainer,
        hyperparameters=config.model_params,
        files=model_files(model_dir, kind),
    )
    write_json(model_dir / MODEL_JSON, meta.to_dict())
    if reference is None:
        reference = profile_features(result.validation if training is None else training, config)
    elif isinstance(reference, Future):
        reference = reference.result()
    write_reference(reference, result.validation, config, model_dir)
    write_json(model_dir / METRICS_FILE, result.metrics_json())


def run(env: Mapping[str, str]) -> TrainResult:
    """Adapter: SageMaker paths and hyperparameters -> :func:`train` -> files in the model directory."""
    channel = Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    config_dir = Path(env.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config"))
    model_dir = Path(env.get("SM_MODEL_DIR", "/opt/ml/model"))
    config = TrainConfig.from_hyperparameters(load_hyperparameters(config_dir))
    manifest = Path(env.get("SM_CHANNEL_MANIFEST", channel.parent / "manifest")) / MANIFEST
    if manifest.is_file():  # in AWS: the channel's files are those the extract committed (ETag or sha256)
        from stepml.cloud.pinned import verify_channel

        verify_channel(channel, manifest, step=config.step)
    files = list_parquet_files(channel, step=config.step)
    units = [u for us in config.profile_units.values() for u in us]
    columns = list(dict.fromkeys([config.target, *config.features, *config.id_columns, *units]))
    check_files(
        {path: open_parquet(path, step=config.step) for path in files},
        required=columns,
        numeric=config.numeric,
        step=config.step,
        what=f"expected target {config.target!r}, features {list(config.features)}"
        + (f", id_columns {list(config.id_columns)}" if config.id_columns else ""),
    )
    # the model's library is imported while the files are read; the training set's features are profiled while
    # the model fits (threads: arrow, pandas, numpy and OpenMP release the GIL)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stepml-train") as pool:
        reading = pool.submit(read_parquet_files, files, columns=columns, step=config.step)
        built = config.build()
        frame = reading.result()
        reference = pool.submit(profile_features, frame, config)
        result = train(frame, config, model_dir, built=built)
        write_outputs(result, config, model_dir, frame, reference)
    return result


def _step_name(env: Mapping[str, str]) -> str:
    """The step name for error reports, read leniently before the hyperparameters are validated."""
    try:
        path = Path(env.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")) / "hyperparameters.json"
        name = json.loads(path.read_text()).get("step")
    except Exception:
        return "train"
    return name if isinstance(name, str) and name else "train"


def main() -> int:
    env = dict(os.environ)
    failure = Path(env.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"

    def entry() -> None:
        run(env)

    return guarded(_step_name(env), failure, "steps.train.entry", entry)


if __name__ == "__main__":
    raise SystemExit(main())
