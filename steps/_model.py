"""What the training and scoring entrypoints share: model-folder layout, feature conversion, loading a model.

Both run the same code in different processes (a SageMaker training container, an ECS task, or a local process),
so everything that must agree between them lives here: how feature columns are converted before the model sees
them (:func:`prepare_features`), and the layout of a model folder::

    stepml_model.json      format, kind (estimator | trainer), the factory or trainer reference, the columns, the
                           classes, the hyperparameters, library versions, and the sha256 of every model file
    estimator.joblib       kind "estimator": the fitted estimator the factory built (no stepml code inside)
    artifacts/...          kind "trainer": what the trainer's fit() wrote; its load() reads it back
    metrics.json, profile.json, reference_sample.parquet

Folders written before this format (``model.joblib`` + ``model_meta.json``, whose pickle refers to
:func:`prepare_features` by reference: keep its module path) still load.
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

MODEL_JSON = "stepml_model.json"
ESTIMATOR_FILE = "estimator.joblib"
ARTIFACTS = "artifacts"
MODEL_FORMAT = "stepml.model/1"
MODEL_FILE = "model.joblib"  # the format before stepml.model/1
META_FILE = "model_meta.json"  # the format before stepml.model/1
METRICS_FILE = "metrics.json"
PROFILE_FILE = "profile.json"

# columns the scoring output adds; no id column or feature may use these names
PREDICTION = "prediction"
SCORE = "score"
OUTPUT_COLUMNS = (PREDICTION, SCORE, "model_version", "run_id")

MIN_TRAIN_ROWS = 20


# --------------------------------------------------------------------------------------------- model


def prepare_features(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], text: Sequence[str] = ()
) -> pd.DataFrame:
    """Turn raw feature columns into the frame the model sees.

    Categoricals come first, as strings (NaN = missing), then text columns as strings ("" = missing), then
    numerics as float64 (NaN = missing). Training and scoring convert values the same way.
    """
    data: dict[str, Any] = {}
    for name in categorical:
        column = frame[name]
        missing = column.isna().to_numpy()
        values = column.astype(str).to_numpy(dtype=object)
        values[missing] = np.nan
        data[name] = values
    for name in text:
        data[name] = frame[name].fillna("").astype(str).to_numpy(dtype=object)
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


def package_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    import platform

    out: dict[str, str] = {"python": platform.python_version()}
    for name in ("scikit-learn", "pandas", "numpy", "pyarrow", "joblib", *extra):
        try:
            out[name] = version(name)
        except (PackageNotFoundError, ValueError):
            if name in extra:
                continue
            out[name] = "unknown"  # pragma: no cover - always installed
    return out


def distribution_of(ref: str) -> list[str]:
    """The installed distribution(s) providing a ``package.module:name`` reference's top package, if any."""
    from importlib.metadata import packages_distributions

    top = ref.split(":", 1)[0].split(".", 1)[0]
    return sorted(set(packages_distributions().get(top, [])))


@dataclass(frozen=True)
class ModelMeta:
    """What ``stepml_model.json`` (or, before it, ``model_meta.json``) says about a model."""

    task: Task
    target: str
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    id_columns: tuple[str, ...]
    classes: tuple[Any, ...] | None = None  # classification: labels in the estimator's order
    versions: Mapping[str, str] = field(default_factory=dict)
    text: tuple[str, ...] = ()
    kind: Literal["estimator", "trainer", "legacy"] = "estimator"
    name: str = ""  # the model's name in the spec
    factory: str | None = None
    trainer: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # model file (relative) -> sha256

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(c for c in self.features if c not in self.categorical and c not in self.text)

    @property
    def binary(self) -> bool:
        return self.task == "classification" and self.classes is not None and len(self.classes) == 2

    @property
    def digest(self) -> str:
        """The content digest of the model: the sha256 of its files' digests (what cache keys hold)."""
        import hashlib

        return hashlib.sha256(json.dumps(dict(self.files), sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "name": self.name,
            "kind": self.kind,
            "factory": self.factory,
            "trainer": self.trainer,
            "serializer": "joblib" if self.kind == "estimator" else None,
            "task": self.task,
            "target": self.target,
            "features": list(self.features),
            "categorical": list(self.categorical),
            "text": list(self.text),
            "id_columns": list(self.id_columns),
        }
        if self.classes is not None:
            data["classes"] = list(self.classes)
            if self.binary:
                data["positive_class"] = self.classes[1]
        data["hyperparameters"] = dict(self.hyperparameters)
        data["versions"] = dict(self.versions)
        data["files"] = dict(self.files)
        data["digest"] = self.digest
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        task = data["task"]
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        classes = data.get("classes")
        kind = data.get("kind", "legacy") if data.get("format") == MODEL_FORMAT else "legacy"
        if kind not in ("estimator", "trainer", "legacy"):
            raise ValueError(f"unknown model kind {kind!r}")
        kind = cast(Literal["estimator", "trainer", "legacy"], kind)
        files = data.get("files", {})
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise ValueError("'files' must map file names to sha256 digests")
        return cls(
            task=cast(Task, task),
            target=str(data["target"]),
            features=tuple(data["features"]),
            categorical=tuple(data.get("categorical", ())),
            id_columns=tuple(data.get("id_columns", ())),
            classes=tuple(classes) if classes is not None else None,
            versions=dict(data.get("versions", {})),
            text=tuple(data.get("text", ())),
            kind=kind,
            name=str(data.get("name", "")),
            factory=data.get("factory"),
            trainer=data.get("trainer"),
            hyperparameters=dict(data.get("hyperparameters", {})),
            files=dict(files),
        )


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model and its metadata, as saved in a model directory. ``pipeline``: the estimator (or the trainer's
    loaded predictor); :meth:`prepare` turns raw feature columns into what it expects."""

    pipeline: Any
    meta: ModelMeta

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.meta.kind == "legacy":  # its pipeline prepares the features itself
            return frame[list(self.meta.features)]
        return prepare_features(frame, self.meta.numeric, self.meta.categorical, self.meta.text)

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.pipeline.predict(self.prepare(frame))

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.pipeline.predict_proba(self.prepare(frame))


def file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_files(model_dir: Path, kind: str) -> dict[str, str]:
    """The sha256 of every file that makes up the fitted model (not its metrics or profile)."""
    if kind == "estimator":
        return {ESTIMATOR_FILE: file_digest(model_dir / ESTIMATOR_FILE)}
    root = model_dir / ARTIFACTS
    return {p.relative_to(model_dir).as_posix(): file_digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def read_meta(model_dir: Path, *, step: str) -> ModelMeta:
    """The model's metadata (new or old format); a named error when there is none or it is invalid."""
    path = model_dir / MODEL_JSON
    if not path.is_file():
        path = model_dir / META_FILE
    if not path.is_file():
        where = "does not exist" if not model_dir.is_dir() else f"has no {MODEL_JSON}"
        raise StepInputError(step, f"model directory {model_dir} {where}; expected the files a train step writes")
    try:
        return ModelMeta.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise StepInputError(step, f"{path} is not a valid {path.name}: {exc!r}") from exc


def load_model(model_dir: Path, *, step: str) -> LoadedModel:
    """Load a model directory: its files checked against their recorded digests before anything is unpickled."""
    meta = read_meta(model_dir, step=step)
    if meta.kind == "legacy":
        return _load_legacy(model_dir, meta, step=step)
    if not meta.files:
        raise StepInputError(step, f"{model_dir / MODEL_JSON} records no model files")
    for rel, expected in meta.files.items():
        path = model_dir / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise StepInputError(step, f"{model_dir / MODEL_JSON} names a file outside the model: {rel!r}")
        if not path.is_file():
            raise StepInputError(step, f"model file {path} is missing")
        if file_digest(path) != expected:
            raise StepInputError(step, f"model file {path} does not match its recorded sha256 (corrupt or replaced)")
    try:
        if meta.kind == "estimator":
            import joblib

            return LoadedModel(pipeline=joblib.load(model_dir / ESTIMATOR_FILE), meta=meta)
        from steps._factory import resolve

        trainer = resolve(str(meta.trainer), step=step, what="model trainer")
        trainer = trainer() if isinstance(trainer, type) else trainer
        return LoadedModel(pipeline=trainer.load(model_dir / ARTIFACTS), meta=meta)
    except StepInputError:
        raise
    except Exception as exc:  # unpickling or a trainer's load raises anything
        raise StepInputError(step, f"cannot load the model in {model_dir}: {type(exc).__name__}: {exc}") from exc


def _load_legacy(model_dir: Path, meta: ModelMeta, *, step: str) -> LoadedModel:
    import joblib

    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise StepInputError(step, f"model directory {model_dir} has no {MODEL_FILE}")
    try:
        pipeline = joblib.load(model_path)
    except Exception as exc:  # unpickling raises anything: EOFError, UnpicklingError, ModuleNotFoundError...
        raise StepInputError(step, f"cannot load {model_path}: {type(exc).__name__}: {exc}") from exc
    return LoadedModel(pipeline=pipeline, meta=meta)
