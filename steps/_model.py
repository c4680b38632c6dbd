"""What the training and scoring entrypoints share: the model config, the sklearn estimator, parquet reading.

Both entrypoints run the same code in different processes (a SageMaker training container, an ECS task, or a
local process), so everything that must agree between them lives here: how feature columns are converted
(:func:`prepare_features` is pickled into the model by reference), which column types are accepted, and the
layout of a model directory (``model.joblib`` + ``model_meta.json``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
# estimator parameters stepml sets itself
_RESERVED_MODEL_PARAMS = ("random_state", "categorical_features")


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Typed training configuration; build it with :meth:`from_hyperparameters` or directly (it validates)."""

    task: Task
    target: str
    features: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    id_columns: tuple[str, ...] = ()
    metric: str = ""  # "" -> DEFAULT_METRIC[task]
    validation_fraction: float = 0.2
    seed: int = 0
    model_params: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 0  # 0 = all cores
    step: str = "train"
    profile_units: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # feature -> unit columns

    def __post_init__(self) -> None:
        if not self.metric and self.task in TASKS:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.task])
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "id_columns", tuple(self.id_columns))
        object.__setattr__(self, "model_params", dict(self.model_params))
        units = {k: tuple(v) if isinstance(v, list | tuple) else () for k, v in self.profile_units.items()}
        object.__setattr__(self, "profile_units", units)
        problems = self._problems()
        if problems:
            raise StepInputError(self.step, "invalid hyperparameters: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        if self.task not in TASKS:
            out.append(f"'task': expected one of {list(TASKS)}, got {self.task!r}")
        elif self.metric not in METRICS[self.task]:
            expected = list(METRICS[self.task])
            out.append(f"'metric': expected one of {expected} for task {self.task!r}, got {self.metric!r}")
        if not self.target:
            out.append("'target': must name the target column")
        if not self.features:
            out.append("'features': expected a non-empty list of column names")
        for key in ("features", "categorical", "id_columns"):
            names: tuple[str, ...] = getattr(self, key)
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                out.append(f"{key!r}: duplicate names {dupes}")
        not_features = [c for c in self.categorical if c not in self.features]
        if not_features:
            out.append(f"'categorical': {not_features} are not in 'features' (categorical must be a subset)")
        if self.target in self.features:
            out.append(f"'features': contains the target column {self.target!r}")
        if self.target in self.id_columns:
            out.append(f"'id_columns': contains the target column {self.target!r}")
        reserved = sorted(set(OUTPUT_COLUMNS) & set(self.id_columns) | set(OUTPUT_COLUMNS) & set(self.features))
        if reserved:
            out.append(f"'features'/'id_columns': {reserved} are reserved for scoring output columns")
        bad_units = [k for k, v in self.profile_units.items() if k not in self.features or not v]
        if bad_units:
            out.append(f"'profile_units': {bad_units} are not features with a non-empty list of unit columns")
        if not 0.0 < self.validation_fraction < 1.0:
            out.append(f"'validation_fraction': expected a number in (0, 1), got {self.validation_fraction}")
        if not 0 <= self.seed < 2**32:
            out.append(f"'seed': expected an integer in [0, 2**32), got {self.seed}")
        if self.threads < 0:
            out.append(f"'threads': expected 0 (all cores) or a positive integer, got {self.threads}")
        bad = [k for k in _RESERVED_MODEL_PARAMS if k in self.model_params]
        if bad:
            out.append(f"'model_params': {bad} are set by stepml (use 'seed' and 'categorical')")
        elif self.task in TASKS:
            problem = _check_model_params(self.task, self.model_params)
            if problem:
                out.append(f"'model_params': {problem}")
        return out

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.task][self.metric]

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(c for c in self.features if c not in self.categorical)

    @classmethod
    def from_hyperparameters(cls, raw: Mapping[str, Any]) -> TrainConfig:
        """Parse SageMaker-style hyperparameters (every value a string) into a config.

        Already-typed values (a list instead of a JSON string, ...) are accepted too. Every problem is
        reported at once, each naming its key.
        """
        step = str(raw.get("step", "train")) or "train"
        problems: list[str] = []
        known = {
            "step", "task", "target", "features", "categorical", "id_columns", "metric",
            "validation_fraction", "seed", "model_params", "threads", "profile_units",
        }  # fmt: skip
        unknown = sorted(k for k in raw if k not in known and not k.startswith("sagemaker_"))
        if unknown:
            problems.append(f"unknown keys {unknown} (expected some of {sorted(known)})")

        def get(key: str, parse: Any, default: Any) -> Any:
            if key not in raw:
                if default is _REQUIRED:
                    problems.append(f"{key!r}: required")
                return default
            try:
                return parse(raw[key])
            except _HyperparameterError as exc:
                problems.append(f"{key!r}: {exc}")
                return _REQUIRED

        values = {
            "task": get("task", _str, _REQUIRED),
            "target": get("target", _str, _REQUIRED),
            "features": get("features", _str_list, _REQUIRED),
            "categorical": get("categorical", _str_list, ()),
            "id_columns": get("id_columns", _str_list, ()),
            "metric": get("metric", _str, ""),
            "validation_fraction": get("validation_fraction", _float, 0.2),
            "seed": get("seed", _int, 0),
            "model_params": get("model_params", _object, {}),
            "threads": get("threads", _int, 0),
            "profile_units": get("profile_units", _object, {}),
        }
        if problems:
            raise StepInputError(step, "invalid hyperparameters: " + "; ".join(problems))
        return cls(step=step, **values)


_REQUIRED: Any = object()


class _HyperparameterError(ValueError):
    pass


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _HyperparameterError(f"expected a string, got {value!r}")
    return value


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _HyperparameterError(f"expected JSON, got {value!r} ({exc.msg})") from None


def _str_list(value: Any) -> tuple[str, ...]:
    parsed = _json(value)
    if not isinstance(parsed, list) or not all(isinstance(v, str) and v for v in parsed):
        raise _HyperparameterError(f'expected a JSON list of column names, e.g. ["a", "b"], got {value!r}')
    return tuple(parsed)


def _object(value: Any) -> dict[str, Any]:
    parsed = _json(value)
    if not isinstance(parsed, dict):
        raise _HyperparameterError(f'expected a JSON object, e.g. {{"max_iter": 200}}, got {value!r}')
    return parsed


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise _HyperparameterError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise _HyperparameterError(f"expected an integer, got {value!r}") from None


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise _HyperparameterError(f"expected a number, got {value!r}")
    try:
        result = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise _HyperparameterError(f"expected a number, got {value!r}") from None
    if not math.isfinite(result):
        raise _HyperparameterError(f"expected a finite number, got {value!r}")
    return result


def _estimator_class(task: Task) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    return HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor


def _check_model_params(task: Task, params: Mapping[str, Any]) -> str | None:
    """Return a problem with ``params`` for the task's estimator, or None."""
    from sklearn.utils._param_validation import InvalidParameterError

    cls = _estimator_class(task)
    try:
        estimator = cls(**params)
    except TypeError as exc:
        valid = sorted(cls().get_params())
        return f"{exc} (valid keys: {valid})"
    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        return str(exc)
    return None


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


def build_pipeline(config: TrainConfig) -> Any:
    """An unfitted sklearn Pipeline: :func:`prepare_features`, ordinal encoding of categoricals (unknown and
    missing categories become NaN, which the booster treats as missing), a HistGradientBoosting estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    params = dict(config.model_params)
    prepare = FunctionTransformer(
        prepare_features, kw_args={"numeric": list(config.numeric), "categorical": list(config.categorical)}
    )
    steps: list[tuple[str, Any]] = [("prepare", prepare)]
    categorical_features: list[int] | None = None
    if config.categorical:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            # rare categories are grouped so the booster's category limit (max_bins) always holds
            max_categories=int(params.get("max_bins", 255)),
            dtype=np.float64,
        )
        steps.append(
            (
                "encode",
                ColumnTransformer(
                    [("categorical", encoder, list(config.categorical))],
                    remainder="passthrough",
                    verbose_feature_names_out=False,
                ),
            )
        )
        categorical_features = list(range(len(config.categorical)))
    estimator = _estimator_class(config.task)(
        **params, random_state=config.seed, categorical_features=categorical_features
    )
    steps.append(("model", estimator))
    return Pipeline(steps)


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


# --------------------------------------------------------------------------------------------- parquet


_READ_BUFFER = 1 << 20


def open_parquet(path: Path, *, step: str) -> pq.ParquetFile:
    """Open a parquet file (reads only the footer); a missing or non-parquet file is a StepInputError."""
    if not path.is_file():
        raise StepInputError(step, f"input file {path} does not exist")
    try:
        # buffered stream reads: a batch decodes page by page instead of loading whole column chunks, so
        # memory does not follow the writer's row group size
        return pq.ParquetFile(path, buffer_size=_READ_BUFFER, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise StepInputError(step, f"input file {path} is not a readable parquet file: {exc}") from exc


def list_parquet_files(directory: Path, *, step: str) -> list[Path]:
    """All ``*.parquet`` files under ``directory``, sorted by relative path."""
    if not directory.is_dir():
        raise StepInputError(step, f"input directory {directory} does not exist")
    files = sorted(
        (p for p in directory.rglob("*.parquet") if p.is_file()),
        key=lambda p: p.relative_to(directory).as_posix(),
    )
    if not files:
        raise StepInputError(step, f"no *.parquet files in {directory}")
    return files


def _is_number(dtype: pa.DataType) -> bool:
    t = pa.types
    return bool(t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype) or t.is_boolean(dtype)) or bool(
        t.is_null(dtype)
    )


def schema_problems(
    schema: pa.Schema, *, required: Sequence[str], numeric: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(missing columns, problems with the types of numeric columns) for one file's arrow schema."""
    names = set(schema.names)
    missing = [c for c in required if c not in names]
    bad_types = [
        f"{c!r} has type {schema.field(c).type} (expected a number type; declare it in 'categorical' "
        "if it is a category)"
        for c in numeric
        if c in names and not _is_number(schema.field(c).type)
    ]
    return missing, bad_types


def check_files(
    files: Mapping[Path, pq.ParquetFile],
    *,
    required: Sequence[str],
    numeric: Sequence[str],
    step: str,
    what: str,
) -> None:
    """Raise one StepInputError naming every missing column / badly typed numeric column and its files."""
    missing_in: dict[str, list[str]] = {}
    type_problems: list[str] = []
    for path, pf in files.items():
        missing, bad = schema_problems(pf.schema_arrow, required=required, numeric=numeric)
        for column in missing:
            missing_in.setdefault(column, []).append(path.name)
        type_problems += [f"{problem} in {path.name}" for problem in bad]
    messages = []
    if missing_in:
        columns = sorted(missing_in, key=list(required).index)
        file_sets = {tuple(v) for v in missing_in.values()}
        if len(file_sets) == 1:
            (names,) = file_sets
            detail = f"missing column(s) {columns} in {_files(names, len(files))}"
        else:
            detail = "missing column(s): " + ", ".join(f"{c!r} in {_files(missing_in[c], len(files))}" for c in columns)
        messages.append(f"{detail}; {what}")
    messages += type_problems
    if messages:
        directory = sorted({str(p.parent) for p in files})
        raise StepInputError(step, "; ".join(messages) + f" (input: {', '.join(directory)})")


def _files(names: Sequence[str], total: int) -> str:
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    return f"{len(names)} of {total} file(s): {shown}" if total > 1 else shown


# nullable pandas types for integers and booleans, so a null does not turn an int column into floats
_NULLABLE: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas(types_mapper=_NULLABLE.get)
    return frame


def read_parquet_files(files: Sequence[Path], *, columns: Sequence[str], step: str) -> pd.DataFrame:
    """Read ``columns`` from every file (in order) into one DataFrame; errors name the file."""
    tables = []
    for path in files:
        pf = open_parquet(path, step=step)
        try:
            tables.append(pf.read(columns=list(columns), use_threads=True))
        except (pa.ArrowException, OSError) as exc:
            raise StepInputError(step, f"input file {path} is corrupt or unreadable: {exc}") from exc
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        names = ", ".join(p.name for p in files)
        raise StepInputError(step, f"input files {names} have incompatible column types: {exc}") from exc
    return arrow_to_pandas(table)
