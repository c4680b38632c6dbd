"""Reference data profiles: per-column summaries of a training set (or a scored batch) for drift monitoring.

A profile is plain JSON (``json.dumps`` works on it as is; it never holds NaN or Inf)::

    {
      "schema": "stepml.profile/1",
      "rows": 1000,                          # rows in the frame (null or not)
      "params": {"bins": 10, "max_categories": 50},
      "columns": {
        "age": {                             # a NumericColumnProfile
          "kind": "numeric", "role": "feature",
          "count": 990,                      # non-null values (NaN and None are null; +-Inf is not)
          "null_count": 10, "null_fraction": 0.01,   # null_count / rows, 0.0 when rows == 0
          "nonfinite_count": 0,              # +-Inf values: binned into the outer bins, left out of the stats
          "min": 18.0, "max": 90.0,          # over finite values; null when there are none
          "mean": 41.2, "std": 12.3,         # population std (ddof=0); null when there are no finite values
          "bin_edges": [18.0, 25.0, ...],    # reference quantile edges, ascending, deduplicated
          "bin_counts": [99, 101, ...],      # len == max(len(bin_edges) - 1, 1); sum == count
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

Bins. ``bin_edges`` are the reference's quantiles at ``0, 1/bins, ..., 1`` (deduplicated, so a skewed or
constant column has fewer). Bin ``i`` holds ``edges[i] <= x < edges[i + 1]``, the last bin also holds
``x == edges[-1]``; the outer bins are open-ended: values below ``edges[0]`` count in the first bin, values
above ``edges[-1]`` in the last. With fewer than two edges (constant column: one edge; no finite values: none)
there is a single bin holding every non-null value.

Categories. Values are compared as strings (``str(value)``; JSON keys are strings). ``frequencies`` holds the
``max_categories`` most frequent values (ties broken by value) in that order, then ``"__other__"`` (always
present, possibly 0) for everything else - including, in :func:`profile_with_edges`, values the reference
never saw. A literal value ``"__other__"`` is counted in that bucket.

Exact merging. Profile partitions separately with :func:`profile_with_edges` (same reference, so same bin
edges and categories), then :func:`merge_profiles` them: counts add exactly, min/max combine, mean/std combine
with the parallel-variance formula (equal to a single pass up to float rounding).

Errors. These are library functions: a bad argument (unknown column, non-numeric ``numeric`` column, profiles
that cannot be merged) raises ``ValueError``; a step calling them wraps it in its own ``StepInputError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

SCHEMA = "stepml.profile/1"
OTHER = "__other__"

Kind = Literal["numeric", "categorical"]
Role = Literal["feature", "prediction"]


class _ColumnBase(TypedDict):
    kind: Kind
    role: Role
    count: int
    null_count: int
    null_fraction: float
    notes: list[str]


class NumericColumnProfile(_ColumnBase):
    nonfinite_count: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    bin_edges: list[float]
    bin_counts: list[int]


class CategoricalColumnProfile(_ColumnBase):
    frequencies: dict[str, int]


ColumnProfile = NumericColumnProfile | CategoricalColumnProfile


class ProfileParams(TypedDict):
    bins: int
    max_categories: int


class Profile(TypedDict):
    schema: str
    rows: int
    params: ProfileParams
    columns: dict[str, ColumnProfile]


FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------------------------- public API


def build_profile(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction: str | None = None,
    bins: int = 10,
    max_categories: int = 50,
) -> dict[str, Any]:
    """Profile ``frame`` as a reference: quantile bin edges and top categories come from this data.

    ``prediction`` names the model-output column (role ``"prediction"``); it may also be listed in ``numeric``
    or ``categorical``, otherwise its kind is inferred from its dtype (numeric, non-bool -> numeric).
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 0:
        raise ValueError(f"max_categories must be an integer >= 0, got {max_categories!r}")
    plan = _plan_columns(frame, numeric, categorical, prediction)
    columns: dict[str, ColumnProfile] = {}
    for name, (kind, role) in plan.items():
        series = frame[name]
        if kind == "numeric":
            values = _numeric_values(name, series)
            finite = values[np.isfinite(values)]
            edges = _quantile_edges(finite, bins)
            columns[name] = _numeric_profile(values, role, edges)
        else:
            columns[name] = _categorical_profile(series, role, None, max_categories)
    profile: Profile = {
        "schema": SCHEMA,
        "rows": len(frame),
        "params": {"bins": bins, "max_categories": max_categories},
        "columns": columns,
    }
    return cast(dict[str, Any], profile)


def profile_with_edges(frame: pd.DataFrame, reference: Mapping[str, Any]) -> dict[str, Any]:
    """Profile a new batch against ``reference``: same columns, kinds, roles, bin edges and categories.

    The result can be compared bin by bin with the reference, and merged (:func:`merge_profiles`) with other
    batches profiled against the same reference.
    """
    ref = _check_profile(reference, "reference")
    missing = [name for name in ref["columns"] if name not in frame.columns]
    if missing:
        raise ValueError(
            f"column(s) {', '.join(map(repr, missing))} of the reference profile are not in the frame; "
            f"available: {', '.join(map(str, frame.columns))}"
        )
    columns: dict[str, ColumnProfile] = {}
    for name, col in ref["columns"].items():
        series = frame[name]
        if col["kind"] == "numeric":
            edges = np.asarray(cast(NumericColumnProfile, col)["bin_edges"], dtype=np.float64)
            columns[name] = _numeric_profile(_numeric_values(name, series), col["role"], edges)
        else:
            categories = [k for k in cast(CategoricalColumnProfile, col)["frequencies"] if k != OTHER]
            columns[name] = _categorical_profile(series, col["role"], categories, None)
    profile: Profile = {
        "schema": SCHEMA,
        "rows": len(frame),
        "params": _params(ref),
        "columns": columns,
    }
    return cast(dict[str, Any], profile)


def merge_profiles(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Combine the profiles of two disjoint batches computed with the SAME bin edges and categories.

    Use :func:`profile_with_edges` with one reference for every batch. Counts add exactly; min/max/mean/std
    are those of the concatenated batches (parallel-variance formula). Raises ``ValueError`` when the profiles
    do not share columns, kinds, bin edges or categories.
    """
    pa_, pb = _check_profile(a, "a"), _check_profile(b, "b")
    if list(pa_["columns"]) != list(pb["columns"]):
        raise ValueError(f"profiles have different columns: {list(pa_['columns'])} vs {list(pb['columns'])}")
    rows = pa_["rows"] + pb["rows"]
    columns: dict[str, ColumnProfile] = {}
    for name, ca in pa_["columns"].items():
        cb = pb["columns"][name]
        if (ca["kind"], ca["role"]) != (cb["kind"], cb["role"]):
            raise ValueError(
                f"column {name!r}: kind/role differ ({ca['kind']}/{ca['role']} vs {cb['kind']}/{cb['role']})"
            )
        if ca["kind"] == "numeric":
            columns[name] = _merge_numeric(name, cast(NumericColumnProfile, ca), cast(NumericColumnProfile, cb), rows)
        else:
            columns[name] = _merge_categorical(
                name, cast(CategoricalColumnProfile, ca), cast(CategoricalColumnProfile, cb), rows
            )
    profile: Profile = {"schema": SCHEMA, "rows": rows, "params": _params(pa_), "columns": columns}
    return cast(dict[str, Any], profile)


# ---------------------------------------------------------------------------------------------- internals


def _plan_columns(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], prediction: str | None
) -> dict[str, tuple[Kind, Role]]:
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
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    raise ValueError(f"column {name!r} is declared numeric but has dtype {dtype}")


def _quantile_edges(finite: FloatArray, bins: int) -> FloatArray:
    if finite.size == 0:
        return np.empty(0, dtype=np.float64)
    with np.errstate(all="ignore"):
        edges = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1))
    edges = np.unique(edges[np.isfinite(edges)])
    return np.asarray(edges, dtype=np.float64)


def _bin_counts(values: FloatArray, edges: FloatArray) -> list[int]:
    """Counts per bin of non-null ``values`` (may hold +-Inf); outer bins are open-ended."""
    n_bins = max(len(edges) - 1, 1)
    if values.size == 0:
        return [0] * n_bins
    index = np.searchsorted(edges[1:-1], values, side="right")
    return [int(c) for c in np.bincount(index, minlength=n_bins)]


def _finite(x: float | np.floating[Any] | None) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole > 0 else 0.0


def _numeric_profile(values: FloatArray, role: Role, edges: FloatArray) -> NumericColumnProfile:
    rows = int(values.size)
    nonnull = values[~np.isnan(values)]
    finite = nonnull[np.isfinite(nonnull)]
    count = int(nonnull.size)
    mean = std = lo = hi = None
    if finite.size:
        with np.errstate(all="ignore"):
            lo, hi = _finite(finite.min()), _finite(finite.max())
            mean, std = _finite(finite.mean()), _finite(finite.std())
    col: NumericColumnProfile = {
        "kind": "numeric",
        "role": role,
        "count": count,
        "null_count": rows - count,
        "null_fraction": _fraction(rows - count, rows),
        "notes": [],
        "nonfinite_count": count - int(finite.size),
        "min": lo,
        "max": hi,
        "mean": mean,
        "std": std,
        "bin_edges": [float(e) for e in edges],
        "bin_counts": _bin_counts(nonnull, edges),
    }
    col["notes"] = _numeric_notes(col, rows)
    return col


def _numeric_notes(col: NumericColumnProfile, rows: int) -> list[str]:
    notes: list[str] = []
    if rows == 0:
        notes.append("no rows: counts are 0, null_fraction is 0.0, min/max/mean/std are null")
    elif col["count"] == 0:
        notes.append("all values are null: min/max/mean/std are null")
    elif col["count"] == col["nonfinite_count"]:
        notes.append("no finite values: min/max/mean/std are null")
    if col["nonfinite_count"]:
        notes.append(
            f"{col['nonfinite_count']} +-Inf value(s) are left out of min/max/mean/std and counted in the outer bins"
        )
    if col["count"] > col["nonfinite_count"]:
        stats = {"min": col["min"], "max": col["max"], "mean": col["mean"], "std": col["std"]}
        notes.extend(f"{key} overflowed the float range and is null" for key, v in stats.items() if v is None)
    if len(col["bin_edges"]) == 0:
        notes.append("no bin edges (the reference had no finite values): a single bin holds every non-null value")
    elif len(col["bin_edges"]) == 1:
        notes.append("one bin edge (the reference is constant): a single bin holds every non-null value")
    return notes


def _category_keys(series: pd.Series[Any]) -> pd.Series[Any]:
    nonnull = series[series.notna()]
    return nonnull.astype(str)


def _categorical_profile(
    series: pd.Series[Any], role: Role, categories: list[str] | None, max_categories: int | None
) -> CategoricalColumnProfile:
    rows = len(series)
    keys = _category_keys(series)
    count = len(keys)
    counts = keys.value_counts(sort=False)
    frequencies: dict[str, int] = {}
    if categories is None:  # reference: top max_categories, ties broken by value
        assert max_categories is not None
        if len(counts):
            labels = np.asarray(counts.index, dtype=str)
            values = counts.to_numpy(dtype=np.int64)
            keep = labels != OTHER
            labels, values = labels[keep], values[keep]
            order = np.lexsort((labels, -values))[:max_categories]
            frequencies = {str(labels[i]): int(values[i]) for i in order}
    else:
        lookup = {str(k): int(v) for k, v in counts.items()}
        frequencies = {k: lookup.get(k, 0) for k in categories if k != OTHER}
    frequencies[OTHER] = count - sum(frequencies.values())
    col: CategoricalColumnProfile = {
        "kind": "categorical",
        "role": role,
        "count": count,
        "null_count": rows - count,
        "null_fraction": _fraction(rows - count, rows),
        "notes": [],
        "frequencies": frequencies,
    }
    col["notes"] = _categorical_notes(col, rows)
    return col


def _categorical_notes(col: CategoricalColumnProfile, rows: int) -> list[str]:
    if rows == 0:
        return ["no rows: counts are 0 and null_fraction is 0.0"]
    if col["count"] == 0:
        return ["all values are null: frequencies are empty"]
    return []


def _merge_numeric(name: str, a: NumericColumnProfile, b: NumericColumnProfile, rows: int) -> NumericColumnProfile:
    if a["bin_edges"] != b["bin_edges"]:
        raise ValueError(
            f"column {name!r}: bin edges differ; profile every batch with profile_with_edges(frame, reference)"
        )
    na, nb = a["count"] - a["nonfinite_count"], b["count"] - b["nonfinite_count"]
    mean, std = _merge_moments(na, a["mean"], a["std"], nb, b["mean"], b["std"])
    count = a["count"] + b["count"]
    col: NumericColumnProfile = {
        "kind": "numeric",
        "role": a["role"],
        "count": count,
        "null_count": a["null_count"] + b["null_count"],
        "null_fraction": _fraction(a["null_count"] + b["null_count"], rows),
        "notes": [],
        "nonfinite_count": a["nonfinite_count"] + b["nonfinite_count"],
        "min": _combine(min, a["min"], b["min"]),
        "max": _combine(max, a["max"], b["max"]),
        "mean": mean,
        "std": std,
        "bin_edges": list(a["bin_edges"]),
        "bin_counts": [x + y for x, y in zip(a["bin_counts"], b["bin_counts"], strict=True)],
    }
    col["notes"] = _numeric_notes(col, rows)
    return col


def _combine(fn: Any, x: float | None, y: float | None) -> float | None:
    if x is None:
        return y
    if y is None:
        return x
    return float(fn(x, y))


def _merge_moments(
    na: int, ma: float | None, sa: float | None, nb: int, mb: float | None, sb: float | None
) -> tuple[float | None, float | None]:
    """Chan et al. parallel mean/variance (population, ddof=0) of two disjoint parts."""
    if na == 0:
        return (mb, sb) if nb else (None, None)
    if nb == 0:
        return ma, sa
    if ma is None or sa is None or mb is None or sb is None:  # a part overflowed the float range
        return None, None
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    m2 = sa * sa * na + sb * sb * nb + delta * delta * na * nb / n
    return _finite(mean), _finite(math.sqrt(max(m2 / n, 0.0)))


def _merge_categorical(
    name: str, a: CategoricalColumnProfile, b: CategoricalColumnProfile, rows: int
) -> CategoricalColumnProfile:
    if list(a["frequencies"]) != list(b["frequencies"]):
        raise ValueError(
            f"column {name!r}: categories differ; profile every batch with profile_with_edges(frame, reference)"
        )
    col: CategoricalColumnProfile = {
        "kind": "categorical",
        "role": a["role"],
        "count": a["count"] + b["count"],
        "null_count": a["null_count"] + b["null_count"],
        "null_fraction": _fraction(a["null_count"] + b["null_count"], rows),
        "notes": [],
        "frequencies": {k: v + b["frequencies"][k] for k, v in a["frequencies"].items()},
    }
    col["notes"] = _categorical_notes(col, rows)
    return col


def _params(profile: Profile) -> ProfileParams:
    params = profile.get("params") or {}
    return {"bins": int(params.get("bins", 10)), "max_categories": int(params.get("max_categories", 50))}


def _check_profile(profile: Mapping[str, Any], what: str) -> Profile:
    if not isinstance(profile, Mapping) or profile.get("schema") != SCHEMA:
        got = profile.get("schema") if isinstance(profile, Mapping) else type(profile).__name__
        raise ValueError(f"{what} is not a {SCHEMA} profile (schema: {got!r})")
    return cast(Profile, profile)
