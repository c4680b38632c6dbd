"""Fitting the user's model: a factory's estimator, or a trainer's fit() then load(); user errors name the function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stepml.errors import StepInputError
from steps._model import ARTIFACTS
from steps.train.config import TrainConfig


def fit_model(
    built: Any,
    config: TrainConfig,
    features: pd.DataFrame,
    y: np.ndarray[Any, Any],
    train_idx: np.ndarray[Any, Any],
    valid_idx: np.ndarray[Any, Any],
    model_dir: Path | None,
) -> Any:
    """Fit the factory's estimator, or run the trainer and load what it wrote; user errors name the function."""
    ref = config.trainer or config.factory
    try:
        if not config.trainer:
            return built.fit(features.iloc[train_idx], y[train_idx])
        if model_dir is None:
            import tempfile

            model_dir = Path(tempfile.mkdtemp(prefix="stepml-trainer-"))
        artifacts = model_dir / ARTIFACTS
        artifacts.mkdir(parents=True, exist_ok=True)
        frames = []
        for idx in (train_idx, valid_idx):
            part = features.iloc[idx].copy()
            part[config.target] = y[idx]
            frames.append(part.reset_index(drop=True))
        built.fit(frames[0], frames[1], artifacts, **config.model_params)
        if not any(artifacts.rglob("*")):
            raise StepInputError(config.step, f"model trainer {ref!r}: fit() wrote nothing into {artifacts}")
        return built.load(artifacts)
    except StepInputError:
        raise
    except Exception as exc:
        what = f"{ref}.fit" if config.trainer else f"{ref} -> {type(built).__name__}.fit"
        raise StepInputError(config.step, f"the model's {what} failed: {type(exc).__name__}: {exc}") from exc


def predict_proba(model: Any, x: pd.DataFrame, config: TrainConfig) -> np.ndarray[Any, Any]:
    if not callable(getattr(model, "predict_proba", None)):
        raise StepInputError(
            config.step,
            f"the model of {config.trainer or config.factory!r} has no predict_proba(), needed for classification",
        )
    return np.asarray(model.predict_proba(x))
