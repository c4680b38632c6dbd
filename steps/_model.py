"""What the training and scoring entrypoints share: model-folder layout, feature conversion, loading a model.

Both run the same code in different processes (a SageMaker training container, an ECS task, or a local process),
so everything that must agree between them lives here: how feature columns are converted
(:func:`prepare_features` is pickled into the model by reference: keep its module path), and the layout of a
model folder (``model.joblib`` + ``model_meta.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from stepml.errors import StepInputError

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

# metric name -> higher is better
METRICS: dict[Task, dict[str, bool]] = {
    "classification": {"roc_auc": True, "log_loss": False, "accuracy": True},
    "regression": {"rmse": False, "mae": False, "r2": True},
}
DEFAULT_METRIC: dict[Task, str] = {"classification": "roc_auc", "regression": "rmse"}

MODEL_FILE = "model.joblib"
META_FILE = "model_meta.json"
METRICS_FILE = "metrics.json"
PROFILE_FILE = "profile.json"

# columns the scoring output adds; no id column or feature may use these names
PREDICTION = "prediction"
SCORE = "score"
OUTPUT_COLUMNS = (PREDICTION, SCORE, "model_version", "run_id")

MIN_TRAIN_ROWS = 20


# --------------------------------------------------------------------------------------------- model


def prepare_features(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    """Turn raw feature columns into the frame the encoder sees.

    Categoricals come first, as strings (NaN = missing), then numerics as float64 (NaN = missing). The
    function is pickled into the model by reference, so training and scoring convert values the same way.
    """
    data: dict[str, Any] = {}
    for name in categorical:
        column = frame[name]
        missing = column.isna().to_numpy()
        values = column.astype(str).to_numpy(dtype=object)
        values[missing] = np.nan
        data[name] = values
    for name in numeric:
        data[name] = pd.to_numeric(frame[name]).astype("float64").to_numpy()
    return pd.DataFrame(data, index=frame.index)


@contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP threads (HistGradientBoosting uses OpenMP); 0 means no limit."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    if threads <= 0:
        yield
        return
    with threadpool_limits(limits=threads):
        yield


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("scikit-learn", "pandas", "numpy", "pyarrow"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - always installed
            out[name] = "unknown"
    return out


@dataclass(frozen=True)
class ModelMeta:
    """The contents of ``model_meta.json``."""

    task: Task
    target: str
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    id_columns: tuple[str, ...]
    classes: tuple[Any, ...] | None = None  # classification: labels in the estimator's order
    versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(c for c in self.features if c not in self.categorical)

    @property
    def binary(self) -> bool:
        return self.task == "classification" and self.classes is not None and len(self.classes) == 2

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "task": self.task,
            "target": self.target,
            "features": list(self.features),
            "categorical": list(self.categorical),
            "id_columns": list(self.id_columns),
        }
        if self.classes is not None:
            data["classes"] = list(self.classes)
            if self.binary:
                data["positive_class"] = self.classes[1]
        data["versions"] = dict(self.versions)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        task = data["task"]
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        classes = data.get("classes")
        return cls(
            task=cast(Task, task),
            target=str(data["target"]),
            features=tuple(data["features"]),
            categorical=tuple(data.get("categorical", ())),
            id_columns=tuple(data.get("id_columns", ())),
            classes=tuple(classes) if classes is not None else None,
            versions=dict(data.get("versions", {})),
        )


@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline and its metadata, as saved in a model directory."""

    pipeline: Any  # sklearn Pipeline
    meta: ModelMeta


def load_model(model_dir: Path, *, step: str) -> LoadedModel:
    """Load ``model.joblib`` and ``model_meta.json`` from ``model_dir``."""
    model_path, meta_path = model_dir / MODEL_FILE, model_dir / META_FILE
    missing = [p.name for p in (model_path, meta_path) if not p.is_file()]
    if missing:
        where = "does not exist" if not model_dir.is_dir() else f"has no {' and no '.join(missing)}"
        raise StepInputError(
            step, f"model directory {model_dir} {where}; expected {MODEL_FILE} and {META_FILE} from training"
        )
    try:
        meta = ModelMeta.from_dict(json.loads(meta_path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise StepInputError(step, f"{meta_path} is not a valid model_meta.json: {exc!r}") from exc
    import joblib

    try:
        pipeline = joblib.load(model_path)
    except Exception as exc:  # unpickling raises anything: EOFError, UnpicklingError, ModuleNotFoundError...
        raise StepInputError(step, f"cannot load {model_path}: {type(exc).__name__}: {exc}") from exc
    return LoadedModel(pipeline=pipeline, meta=meta)
