"""The reference a trained model is monitored against: ``profile.json`` and ``reference_sample.parquet``.

Its features are profiled on the whole training set (:func:`profile_features`), which does not depend on the
model: the training entrypoint runs it in a thread while the model fits (numpy and pandas release the GIL in
their array work; HistGradientBoosting's OpenMP loops do too). The model's outputs are profiled on the validation
rows once they are predicted (:func:`write_reference`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stepml.errors import StepInputError
from steps._model import PREDICTION, PROFILE_FILE, SCORE, prepare_features
from steps.train.config import TrainConfig


@dataclass(frozen=True)
class FeatureReference:
    """The training set's features as profiled (text columns are not) and their profile."""

    features: pd.DataFrame
    profile: dict[str, Any]


def profile_features(source: pd.DataFrame, config: TrainConfig) -> FeatureReference:
    """The features of ``source`` (the whole training set) prepared as the model sees them and profiled;
    features with profile units (entity-aware drift) on one row per unit."""
    from monitoring.profile import build_profile

    features = prepare_features(source, config.numeric, config.categorical)  # text columns are not profiled
    for unit in dict.fromkeys(u for units in config.profile_units.values() for u in units):
        features[unit] = source[unit].to_numpy()  # entity-aware drift: those features are profiled per unit
    try:
        profile = build_profile(
            features, numeric=config.numeric, categorical=config.categorical, units=config.profile_units
        )
    except ValueError as exc:
        raise StepInputError(config.step, f"cannot profile the training data: {exc}") from exc
    return FeatureReference(features, profile)


def write_reference(
    reference: FeatureReference, validation: pd.DataFrame, config: TrainConfig, model_dir: Path
) -> None:
    """profile.json (the features' profile with the model's out-of-sample outputs on ``validation``: in-sample
    scores are sharper than real ones) and reference_sample.parquet (real training rows, for the report)."""
    from monitoring.evidently_report import REFERENCE_SAMPLE_FILE, training_sample
    from monitoring.profile import profile_warnings, with_outputs

    try:
        profile = with_outputs(
            reference.profile,
            validation,
            prediction_kind="categorical" if config.task == "classification" else "numeric",
        )
    except ValueError as exc:
        raise StepInputError(config.step, f"cannot profile the training data: {exc}") from exc
    for warning in profile_warnings(profile):
        print(f"stepml: step {config.step!r}: warning: {warning}", file=sys.stderr)
    write_json(model_dir / PROFILE_FILE, profile)
    outputs = validation[[c for c in (PREDICTION, SCORE) if c in validation.columns]]
    training_sample(reference.features, outputs).to_parquet(model_dir / REFERENCE_SAMPLE_FILE, index=False)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
