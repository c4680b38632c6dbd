"""Exact merging of profiles taken against one reference: counts and tail sums add, moments combine."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    pass
from monitoring.accumulators import _tail_sums, tail_sums
from monitoring.profile_model import (
    CategoricalColumnProfile,
    ColumnProfile,
    NumericColumnProfile,
    _categorical_notes,
    _finite,
    _fraction,
    _numeric_notes,
    check_profile,
    new_profile,
)


def merge_profiles(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Combine the profiles of two disjoint batches computed with the SAME bin edges and categories.

    Counts and tail sums add exactly; min/max/mean/std are those of the concatenated batches
    (parallel-variance formula). Raises ``ValueError`` when the profiles do not share columns, kinds, bin edges
    or categories.
    """
    pa_, pb = check_profile(a, "a"), check_profile(b, "b")
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
            columns[name] = _merge_numeric(name, cast(NumericColumnProfile, ca), cast(NumericColumnProfile, cb))
        else:
            columns[name] = _merge_categorical(
                name, cast(CategoricalColumnProfile, ca), cast(CategoricalColumnProfile, cb)
            )
        if ca.get("units"):  # per-unit columns: exact when no unit spans both parts (the check streams instead)
            columns[name]["units"] = list(ca["units"])
    return new_profile(columns, rows, pa_["params"])


def _merge_numeric(name: str, a: NumericColumnProfile, b: NumericColumnProfile) -> NumericColumnProfile:
    if a["bin_edges"] != b["bin_edges"]:
        raise ValueError(
            f"column {name!r}: bin edges differ; profile every batch with profile_with_edges(frame, reference)"
        )
    na, nb = a["count"] - a["nonfinite_count"], b["count"] - b["nonfinite_count"]
    mean, std = _merge_moments(na, a["mean"], a["std"], nb, b["mean"], b["std"])
    nulls = a["null_count"] + b["null_count"]
    count = a["count"] + b["count"]
    col: NumericColumnProfile = {
        "kind": "numeric",
        "role": a["role"],
        "count": count,
        "null_count": nulls,
        "null_fraction": _fraction(nulls, count + nulls),
        "notes": [],
        "nonfinite_count": a["nonfinite_count"] + b["nonfinite_count"],
        "min": _combine(min, a["min"], b["min"]),
        "max": _combine(max, a["max"], b["max"]),
        "mean": mean,
        "std": std,
        "bin_edges": list(a["bin_edges"]),
        "bin_counts": [x + y for x, y in zip(a["bin_counts"], b["bin_counts"], strict=True)],
        "edge_counts": [x + y for x, y in zip(a["edge_counts"], b["edge_counts"], strict=True)],
        "below_sum": 0.0,
        "above_sum": 0.0,
    }
    (ba, aa), (bb, ab) = tail_sums(a), tail_sums(b)
    col["below_sum"], col["above_sum"], exponent = _tail_sums(ba + bb, aa + ab)
    if exponent:
        col["tail_exponent"] = exponent
    for key in ("interior_positions", "upper_counts"):
        if key in a and key in b:
            col[key] = [x + y for x, y in zip(a[key], b[key], strict=True)]
    col["notes"] = _numeric_notes(col, count + nulls)
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
    if ma is None or sa is None or mb is None or sb is None:  # a part overflowed the float range (old profile)
        return None, None
    n = na + nb
    big = max(abs(ma), abs(mb), sa, sb)
    f = math.ldexp(1.0, -math.frexp(big)[1]) if big > 0 else 1.0  # a power of two: exact
    delta = mb * f - ma * f
    mean = ma * f + delta * nb / n
    m2 = (sa * f) ** 2 * na + (sb * f) ** 2 * nb + delta * delta * na * nb / n
    return _finite(mean / f), _finite(math.sqrt(max(m2 / n, 0.0)) / f)


def _merge_categorical(name: str, a: CategoricalColumnProfile, b: CategoricalColumnProfile) -> CategoricalColumnProfile:
    if list(a["frequencies"]) != list(b["frequencies"]):
        raise ValueError(
            f"column {name!r}: categories differ; profile every batch with profile_with_edges(frame, reference)"
        )
    nulls = a["null_count"] + b["null_count"]
    count = a["count"] + b["count"]
    col: CategoricalColumnProfile = {
        "kind": "categorical",
        "role": a["role"],
        "count": count,
        "null_count": nulls,
        "null_fraction": _fraction(nulls, count + nulls),
        "notes": [],
        "frequencies": {k: v + b["frequencies"][k] for k, v in a["frequencies"].items()},
    }
    col["notes"] = _categorical_notes(col, count + nulls)
    return col
