"""The training configuration: SageMaker-style hyperparameters parsed and checked, the estimator pipeline built."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stepml.errors import StepInputError
from steps._model import DEFAULT_METRIC, METRICS, OUTPUT_COLUMNS, TASKS, Task, prepare_features

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
