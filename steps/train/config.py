"""The training configuration: SageMaker-style hyperparameters parsed and checked, the user's model built."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepml.errors import StepInputError
from steps._factory import DEFAULT_FACTORY, ModelShape, build_estimator, trainer_of
from steps._model import DEFAULT_METRIC, METRICS, OUTPUT_COLUMNS, TASKS, Task

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
    model_params: Mapping[str, Any] = field(default_factory=dict)  # the model's hyperparameters
    threads: int = 0  # 0 = all cores
    step: str = "train"
    profile_units: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # feature -> unit columns
    text: tuple[str, ...] = ()  # text features (a subset of features)
    factory: str = DEFAULT_FACTORY  # package.module:callable returning an estimator
    trainer: str | None = None  # package.module:ClassOrObject with fit/load (instead of a factory)
    model: str = ""  # the model's name in the spec

    def __post_init__(self) -> None:
        if not self.metric and self.task in TASKS:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.task])
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "id_columns", tuple(self.id_columns))
        object.__setattr__(self, "text", tuple(self.text))
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
        not_features = [c for c in self.text if c not in self.features or c in self.categorical]
        if not_features:
            out.append(f"'text': {not_features} are not features, or are also categorical")
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
        if not out:
            try:
                self.build()
            except StepInputError as exc:
                out.append(f"'model_params': {exc.message}")
        return out

    @property
    def shape(self) -> ModelShape:
        return ModelShape(self.task, self.numeric, self.categorical, self.text, self.seed)

    def build(self) -> Any:
        """The unfitted estimator from the factory, or the trainer object; a named error when the
        hyperparameters are not accepted (checked before any data is read)."""
        if self.trainer:
            return trainer_of(self.trainer, self.model_params, step=self.step)
        return build_estimator(self.factory, self.shape, self.model_params, step=self.step)

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.task][self.metric]

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(c for c in self.features if c not in self.categorical and c not in self.text)

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
            "validation_fraction", "seed", "model_params", "threads", "profile_units", "text", "factory",
            "trainer", "model",
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
            "text": get("text", _str_list, ()),
            "factory": get("factory", _str, DEFAULT_FACTORY) or DEFAULT_FACTORY,
            "trainer": get("trainer", _str, None) or None,
            "model": get("model", _str, ""),
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
