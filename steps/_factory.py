"""The user's model: a factory returning a scikit-learn-compatible estimator, or a trainer for anything else.

A **factory** (``models.<name>.factory: package.module:callable``) is called with the hyperparameters as keyword
arguments, plus any of ``task``, ``numeric``, ``categorical``, ``text``, ``features`` and ``seed`` its signature
names, and returns an unfitted estimator (or Pipeline) with ``fit``, ``predict`` and, for classification,
``predict_proba``. It sees the prepared feature frame (:func:`steps._model.prepare_features`: categoricals and
text as strings, numerics as float64, missing as NaN / ""). The default is :func:`gradient_boosting`.

A **trainer** (``models.<name>.trainer: package.module:ClassOrObject``) is for models that are not scikit-learn
estimators (LightGBM's own API, PyTorch, a text model): ``fit(train, validation, model_dir, **hyperparameters)``
writes the model into ``model_dir`` (both frames: the prepared features, then the target column, last); ``load(model_dir)`` returns an object with ``predict(frame)`` (and
``predict_proba(frame)`` and ``classes_`` for classification). Both frames hold the prepared features and the
target column.

A hyperparameter the factory or trainer does not accept, or a value a scikit-learn estimator rejects, is a named
error before any data is read.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepml.errors import StepInputError

DEFAULT_FACTORY = "steps._factory:gradient_boosting"
CONTEXT_ARGS = ("task", "numeric", "categorical", "text", "features", "seed")


@dataclass(frozen=True)
class ModelShape:
    """What a factory may ask for besides its hyperparameters."""

    task: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    text: tuple[str, ...]
    seed: int

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.categorical, *self.text, *self.numeric)


def resolve(ref: str, *, step: str, what: str) -> Any:
    """Import ``package.module:attribute``; a named error when it cannot be."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise StepInputError(step, f"{what} {ref!r}: expected 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StepInputError(
            step, f"{what} {ref!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise StepInputError(step, f"{what} {ref!r}: module {module_name!r} has no {attr!r}") from None


def _accepts(func: Any, hyperparameters: Mapping[str, Any], *, step: str, what: str, skip: int = 0) -> None:
    """A named error when ``func``'s signature cannot take ``hyperparameters`` as keyword arguments."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    params = list(signature.parameters.values())[skip:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(hyperparameters) - names)
    if unknown:
        valid = sorted(names - set(CONTEXT_ARGS))
        raise StepInputError(step, f"{what} does not accept hyperparameter(s) {unknown} (it takes {valid})")


def build_estimator(factory: str, shape: ModelShape, hyperparameters: Mapping[str, Any], *, step: str) -> Any:
    """Call the factory; check the hyperparameters reached an estimator that accepts them."""
    func = resolve(factory, step=step, what="model factory")
    what = f"model factory {factory!r}"
    if not callable(func):
        raise StepInputError(step, f"{what} is not callable")
    clash = sorted(set(hyperparameters) & set(CONTEXT_ARGS))
    if clash:
        raise StepInputError(step, f"hyperparameter(s) {clash} are set by stepml (from the model's spec)")
    _accepts(func, hyperparameters, step=step, what=what)
    try:
        signature = inspect.signature(func)
        wanted = {n for n in CONTEXT_ARGS if n in signature.parameters}
    except (TypeError, ValueError):
        wanted = set()
    context = {n: (list(v) if isinstance(v := getattr(shape, n), tuple) else v) for n in wanted}
    try:
        estimator = func(**context, **hyperparameters)
    except (TypeError, ValueError) as exc:
        raise StepInputError(step, f"{what} rejected the hyperparameters {dict(hyperparameters)}: {exc}") from exc
    for name in ("fit", "predict"):
        if not callable(getattr(estimator, name, None)):
            raise StepInputError(step, f"{what} returned {type(estimator).__name__}, which has no {name}()")
    if shape.task == "classification" and not callable(getattr(estimator, "predict_proba", None)):
        raise StepInputError(step, f"{what} returned {type(estimator).__name__}, which has no predict_proba()")
    _validate_sklearn(estimator, step=step, what=what)
    return estimator


def _validate_sklearn(estimator: Any, *, step: str, what: str) -> None:
    """scikit-learn checks parameter values only in fit(); check them now, for every part of a pipeline."""
    try:
        from sklearn.utils._param_validation import InvalidParameterError
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return
    parts = [estimator]
    if callable(getattr(estimator, "get_params", None)):
        with contextlib.suppress(Exception):  # a non-sklearn get_params: its own business
            parts += [v for v in estimator.get_params(deep=True).values() if hasattr(v, "_validate_params")]
    for part in parts:
        validate = getattr(part, "_validate_params", None)
        if callable(validate):
            try:
                validate()
            except InvalidParameterError as exc:
                raise StepInputError(step, f"{what}: {type(part).__name__}: {exc}") from exc


def trainer_of(ref: str, hyperparameters: Mapping[str, Any], *, step: str) -> Any:
    """The trainer object (a class is instantiated without arguments), its hyperparameters checked."""
    obj = resolve(ref, step=step, what="model trainer")
    if inspect.isclass(obj):
        obj = obj()
    what = f"model trainer {ref!r}"
    for name in ("fit", "load"):
        if not callable(getattr(obj, name, None)):
            raise StepInputError(
                step, f"{what} has no {name}() (expected fit(train, validation, model_dir, **hp) and load(model_dir))"
            )
    _accepts(obj.fit, hyperparameters, step=step, what=f"{what}.fit", skip=3)
    return obj


def gradient_boosting(
    task: str, categorical: list[str], seed: int, text: list[str] | None = None, **params: Any
) -> Any:
    """The default model: ordinal-encoded categoricals (rare ones grouped, unknown and missing -> NaN, which the
    booster treats as missing) and scikit-learn's HistGradientBoosting; ``params`` go to the booster."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    if text:
        raise ValueError(f"the gradient boosting model takes no text columns ({text}); use a text model factory")
    for reserved in ("random_state", "categorical_features"):
        if reserved in params:
            raise ValueError(f"{reserved!r} is set by stepml (use the model's 'seed' and 'categorical')")
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    booster = cls(**params, random_state=seed, categorical_features=list(range(len(categorical))) or None)
    if not categorical:
        return Pipeline([("model", booster)])
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=int(params.get("max_bins", 255)),  # so the booster's category limit always holds
        dtype=np.float64,
    )
    encode = ColumnTransformer(
        [("categorical", encoder, list(categorical))], remainder="passthrough", verbose_feature_names_out=False
    )
    return Pipeline([("encode", encode), ("model", booster)])
