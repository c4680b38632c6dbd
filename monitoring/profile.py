"""Reference data profiles: per-column summaries of a training set (or a scored batch) for drift monitoring.

A profile is plain JSON (``json.dumps`` works on it as is; it never holds NaN or Inf); its JSON Schema is
``schemas/profile.schema.json``::

    {
      "schema": "stepml.profile/2",
      "rows": 1000,                          # rows in the frame (null or not)
      "params": {"bins": 1000, "max_categories": 50},
      "columns": {
        "age": {                             # a NumericColumnProfile
          "kind": "numeric", "role": "feature",
          "count": 990,                      # non-null values (NaN and None are null; +-Inf is not)
          "null_count": 10, "null_fraction": 0.01,   # null_count / rows, 0.0 when rows == 0
          "nonfinite_count": 0,              # +-Inf values: binned into the outer bins, left out of the stats
          "min": 18.0, "max": 90.0,          # over finite values; null when there are none
          "mean": 41.2, "std": 12.3,         # population std (ddof=0); null when there are no finite values
          "bin_edges": [18.0, 18.5, ...],    # reference quantile edges, ascending, deduplicated
          "bin_counts": [3, 12, ...],        # len == len(bin_edges) + 1; sum == count
          "edge_counts": [3, 0, ...],        # values exactly equal to each edge (left limits of the CDF)
          "below_sum": 0.0,                  # sum of (bin_edges[0] - x) over finite x < bin_edges[0]
          "above_sum": 0.0,                  # sum of (x - bin_edges[-1]) over finite x > bin_edges[-1]
          "interior_positions": [0.0, ...],  # per bin: sum of (x - e[i-1]) / (e[i] - e[i-1]) over the values
                                             # strictly inside inner bin i (0 for the two outer bins)
          "upper_counts": [0, ...],          # per bin: how many of those lie past the bin's midpoint; outer
                                             # bins: values beyond the range by more than half a spacing
          "notes": ["..."]                   # why a value is null, a column is constant, ...
        },
        "city": {                            # a CategoricalColumnProfile
          "kind": "categorical", "role": "feature",
          "count": 1000, "null_count": 0, "null_fraction": 0.0,
          "frequencies": {"Paris": 600, "Lyon": 390, "__other__": 10},   # sum == count
          "notes": []
        }
      }
    }

Bins. ``bin_edges`` are the reference's quantiles at ``0, 1/bins, ..., 1`` (``bins`` = 1000 by default;
deduplicated), or every distinct reference value when there are at most ``bins + 1`` of them. Bins are right-closed: bin 0 is
``x <= edges[0]``, bin ``i`` is ``edges[i-1] < x <= edges[i]``, the last bin is ``x > edges[-1]`` (empty in the
reference, which has no value above its maximum). Because every reference atom is an edge, the empirical CDF at
the edges is exact for discrete columns (a 0/1 column has edges ``[0, 1]`` and bins ``{0}, {1}, >1``) and the
binned Kolmogorov-Smirnov statistic equals the exact one; for continuous columns the 1000 quantile bins give it
to about 1e-3. With no finite values there are no edges and a single bin. ``below_sum``/``above_sum`` make the
Wasserstein distance exact outside the reference's range (:mod:`monitoring.drift`).

Categories. Values are compared as strings (``str(value)`` of the Python value; JSON keys are strings).
``frequencies`` holds the ``max_categories`` most frequent values (ties broken by value) in that order, then
``"__other__"`` (always present, possibly 0) for everything else - including, for a batch profiled against a
reference, values the reference never saw. A literal value ``"__other__"`` is counted in that bucket.

Exact merging. Profile partitions separately against one reference (:func:`profile_with_edges`, or the
array-level :class:`NumericAccumulator` / :class:`CategoricalAccumulator` the check step feeds from Arrow
batches), then :func:`merge_profiles` them: counts and tail sums add exactly, min/max combine, mean/std combine
with the parallel-variance formula (equal to a single pass up to float rounding). So partitions scored in
parallel are checked as one dataset.

Errors. These are library functions: a bad argument (unknown column, non-numeric ``numeric`` column, profiles
that cannot be merged) raises ``ValueError``; a step calling them wraps it in its own ``StepInputError``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
from monitoring.accumulators import (
    CategoricalAccumulator,
    NumericAccumulator,
    first_of_units,
    quantile_edges,
    tail_sums,
)
from monitoring.profile_merge import merge_profiles
from monitoring.profile_model import (
    DEFAULT_BINS,
    DEFAULT_MAX_CATEGORIES,
    OTHER,
    SCHEMA,
    TAIL_EXPONENT,
    TAIL_SCALE,
    CategoricalColumnProfile,
    ColumnProfile,
    FloatArray,
    Kind,
    NumericColumnProfile,
    Profile,
    ProfileParams,
    Role,
    check_profile,
    new_profile,
)


def build_profile(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction: str | None = None,
    bins: int = DEFAULT_BINS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    units: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Profile ``frame`` as a reference: quantile bin edges and top categories come from this data.

    ``prediction`` names the model-output column (role ``"prediction"``); it may also be listed in ``numeric``
    or ``categorical``, otherwise its kind is inferred from its dtype (numeric, non-bool -> numeric).
    ``units`` maps a column to the column(s) naming the entity it describes (``{"skill": ["candidate_id"]}``):
    that column is profiled on one row per unit (:func:`first_of_units`) and records ``units``; its counts
    are then units, not rows.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 0:
        raise ValueError(f"max_categories must be an integer >= 0, got {max_categories!r}")
    plan = _plan_columns(frame, numeric, categorical, prediction)
    selections = _unit_selections(frame, units or {}, plan)
    columns: dict[str, ColumnProfile] = {}
    for name, (kind, role) in plan.items():
        unit_cols = tuple((units or {}).get(name, ()))
        series = frame[name] if not unit_cols else frame[name][selections[unit_cols]]
        if kind == "numeric":
            values = _numeric_values(name, series)
            finite = values[np.isfinite(values)]
            acc = NumericAccumulator(quantile_edges(finite, bins), role)
            acc.add(values)
            columns[name] = acc.to_profile()
        else:
            cat = CategoricalAccumulator(role)
            cat.add_counts(_series_counts(series), nulls=int(series.isna().sum()))
            columns[name] = cat.to_profile(None, max_categories)
        if unit_cols:
            columns[name]["units"] = list(unit_cols)
    return new_profile(columns, len(frame), {"bins": bins, "max_categories": max_categories})


def _unit_selections(
    frame: pd.DataFrame, units: Mapping[str, Sequence[str]], plan: Mapping[str, Any]
) -> dict[tuple[str, ...], Any]:
    """One row-selection mask per distinct set of unit columns (see :func:`first_of_units`)."""
    if isinstance(units, str) or not isinstance(units, Mapping):
        raise ValueError("units must map column names to lists of unit columns")
    out: dict[tuple[str, ...], Any] = {}
    for name, cols in units.items():
        key = tuple(cols)
        if name not in plan:
            raise ValueError(f"units name column {name!r}, which is not profiled")
        if not key or isinstance(cols, str):
            raise ValueError(f"units of {name!r} must be a non-empty list of column names")
        missing = [c for c in key if c not in frame.columns]
        if missing:
            raise ValueError(f"unit column(s) {missing} of {name!r} are not in the frame")
        if key not in out:
            out[key] = first_of_units([frame[c] for c in key])
    return out


def build_reference(
    features: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction: str = "prediction",
    score: str | None = "score",
    prediction_kind: Kind | None = None,
    bins: int = DEFAULT_BINS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    units: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The reference profile a model is monitored against: its features profiled on ``features`` (the whole
    training set), its outputs on ``predictions`` (out-of-sample rows: validation or cross-fitted predictions;
    in-sample scores are sharper than real ones and would false-alarm).

    ``prediction`` (role ``prediction``; ``prediction_kind``, or inferred from its dtype) and, when the frame has
    it, ``score`` (numeric: a binary classifier's probability of the positive class) are the model's outputs.
    ``rows`` is the row count of ``features``. ``units``: feature -> unit column(s), profiled one row per unit
    (:func:`build_profile`); ``features`` must then hold the unit columns.
    """
    profile = build_profile(
        features, numeric=numeric, categorical=categorical, bins=bins, max_categories=max_categories, units=units
    )
    return with_outputs(profile, predictions, prediction=prediction, score=score, prediction_kind=prediction_kind)


def with_outputs(
    profile: dict[str, Any],
    predictions: pd.DataFrame,
    *,
    prediction: str = "prediction",
    score: str | None = "score",
    prediction_kind: Kind | None = None,
) -> dict[str, Any]:
    """The features' ``profile`` (:func:`build_profile` of the training set) completed with the model's outputs
    profiled on ``predictions`` (same ``bins`` and ``max_categories``): :func:`build_reference` in two halves, so
    the features can be profiled while the model fits. ``profile`` is updated and returned."""
    bins, max_categories = profile["params"]["bins"], profile["params"]["max_categories"]
    outputs = [prediction, *([score] if score is not None and score in predictions.columns else [])]
    kind = prediction_kind
    if kind is None:
        kind = _plan_columns(predictions, [], [], prediction)[prediction][0]
    out = build_profile(
        predictions,
        numeric=[c for c in outputs if c != prediction or kind == "numeric"],
        categorical=[prediction] if kind == "categorical" else [],
        bins=bins,
        max_categories=max_categories,
    )
    for name in outputs:
        col = out["columns"][name]
        col["role"] = "prediction"
        profile["columns"][name] = col
    return profile


def profile_warnings(profile: Mapping[str, Any], min_sample_size: int = 100) -> list[str]:
    """Plain warnings about a reference profile that the training step prints: a feature with no non-null
    value, +-Inf values, and outputs too few for a prediction-drift verdict."""
    out: list[str] = []
    for name, col in profile["columns"].items():
        what = "feature" if col["role"] == "feature" else "model output"
        if col["count"] == 0:
            out.append(
                f"{what} {name!r} has no non-null value in the reference data: it carries no information, its "
                "drift cannot be judged and the check's all_null check fails"
            )
        elif col.get("nonfinite_count"):
            out.append(f"{what} {name!r} has {col['nonfinite_count']} +-Inf value(s) in the reference data")
        elif col["role"] == "prediction" and col["count"] < min_sample_size:
            out.append(
                f"{what} {name!r} is profiled on {col['count']} out-of-sample row(s), fewer than "
                f"min_sample_size {min_sample_size}: prediction drift will be insufficient_data"
            )
    return out


def profile_with_edges(frame: pd.DataFrame, reference: Mapping[str, Any]) -> dict[str, Any]:
    """Profile a new batch against ``reference``: same columns, kinds, roles, bin edges and categories.

    The result can be compared bin by bin with the reference, and merged (:func:`merge_profiles`) with other
    batches profiled against the same reference.
    """
    ref = check_profile(reference, "reference")
    missing = [name for name in ref["columns"] if name not in frame.columns]
    if missing:
        raise ValueError(
            f"column(s) {', '.join(map(repr, missing))} of the reference profile are not in the frame; "
            f"available: {', '.join(map(str, frame.columns))}"
        )
    units = {name: col["units"] for name, col in ref["columns"].items() if col.get("units")}
    selections = _unit_selections(frame, units, ref["columns"])
    columns: dict[str, ColumnProfile] = {}
    for name, col in ref["columns"].items():
        unit_cols = tuple(col.get("units") or ())
        series = frame[name] if not unit_cols else frame[name][selections[unit_cols]]
        if col["kind"] == "numeric":
            acc = NumericAccumulator(cast(NumericColumnProfile, col)["bin_edges"], col["role"])
            acc.add(_numeric_values(name, series))
            columns[name] = acc.to_profile()
        else:
            cat = CategoricalAccumulator(col["role"])
            cat.add_counts(_series_counts(series), nulls=int(series.isna().sum()))
            columns[name] = cat.to_profile(reference_categories(cast(CategoricalColumnProfile, col)))
        if unit_cols:
            columns[name]["units"] = list(unit_cols)
    return new_profile(columns, len(frame), ref["params"])


def reference_categories(col: CategoricalColumnProfile) -> list[str]:
    return [k for k in col["frequencies"] if k != OTHER]


def _plan_columns(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], prediction: str | None
) -> dict[str, tuple[Kind, Role]]:
    import pandas as pd

    if isinstance(numeric, str) or isinstance(categorical, str):
        raise ValueError("numeric and categorical must be sequences of column names, not a string")
    plan: dict[str, tuple[Kind, Role]] = {}
    for kind, names in (("numeric", numeric), ("categorical", categorical)):
        for name in names:
            if name in plan:
                raise ValueError(f"column {name!r} is listed more than once in numeric/categorical")
            plan[name] = (cast(Kind, kind), "feature")
    if prediction is not None:
        if prediction in plan:
            plan[prediction] = (plan[prediction][0], "prediction")
        elif prediction in frame.columns:
            dtype = frame[prediction].dtype
            inferred: Kind = (
                "numeric"
                if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
                else "categorical"
            )
            plan[prediction] = (inferred, "prediction")
        else:
            plan[prediction] = ("numeric", "prediction")  # reported as missing below
    missing = [name for name in plan if name not in frame.columns]
    if missing:
        raise ValueError(
            f"column(s) {', '.join(map(repr, missing))} are not in the frame; "
            f"available: {', '.join(map(str, frame.columns))}"
        )
    return plan


def _numeric_values(name: str, series: pd.Series[Any]) -> FloatArray:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    raise ValueError(f"column {name!r} is declared numeric but has dtype {dtype}")


def _series_counts(series: pd.Series[Any]) -> list[tuple[Any, int]]:
    counts = series[series.notna()].astype(str).value_counts(sort=False)  # str first: True and 1 stay apart
    return [(str(k), int(v)) for k, v in counts.items()]


__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_BINS",
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MAX_CATEGORIES",
    "OTHER",
    "OTHER",
    "SCHEMA",
    "SCHEMA",
    "TAIL_EXPONENT",
    "TAIL_EXPONENT",
    "TAIL_SCALE",
    "TAIL_SCALE",
    "CategoricalAccumulator",
    "CategoricalColumnProfile",
    "ColumnProfile",
    "FloatArray",
    "Kind",
    "NumericAccumulator",
    "NumericColumnProfile",
    "Profile",
    "ProfileParams",
    "Role",
    "build_profile",
    "build_reference",
    "check_profile",
    "first_of_units",
    "merge_profiles",
    "new_profile",
    "profile_warnings",
    "profile_with_edges",
    "quantile_edges",
    "reference_categories",
    "tail_sums",
    "with_outputs",
]
