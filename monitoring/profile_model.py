"""The profile's JSON shape (see ``monitoring.profile``): its typed columns, constants and the small helpers that
build and check one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    pass


SCHEMA = "stepml.profile/2"


OTHER = "__other__"


DEFAULT_BINS = 1000


DEFAULT_MAX_CATEGORIES = 50


TAIL_EXPONENT = 600  # tail sums are accumulated at 2**-600: exact, and finite for any float values


TAIL_SCALE = 2.0**-TAIL_EXPONENT


Kind = Literal["numeric", "categorical"]


Role = Literal["feature", "prediction"]


class _ColumnBase(TypedDict):
    kind: Kind
    role: Role
    count: int
    null_count: int
    null_fraction: float
    notes: list[str]
    units: NotRequired[list[str]]  # profiled one row per unit of these columns (counts are units)


class NumericColumnProfile(_ColumnBase):
    nonfinite_count: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    bin_edges: list[float]
    bin_counts: list[int]
    edge_counts: list[int]
    below_sum: float
    above_sum: float
    interior_positions: NotRequired[list[float]]
    upper_counts: NotRequired[list[int]]
    tail_exponent: NotRequired[int]  # below_sum / above_sum are in units of 2**tail_exponent (absent: 0)


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


def new_profile(columns: dict[str, ColumnProfile], rows: int, params: ProfileParams) -> dict[str, Any]:
    profile: Profile = {"schema": SCHEMA, "rows": rows, "params": params, "columns": columns}
    return cast(dict[str, Any], profile)


def check_profile(profile: Mapping[str, Any], what: str) -> Profile:
    """``profile`` as a typed :class:`Profile`; ``ValueError`` when it is not one of this schema."""
    if not isinstance(profile, Mapping) or profile.get("schema") != SCHEMA:
        got = profile.get("schema") if isinstance(profile, Mapping) else type(profile).__name__
        raise ValueError(f"{what} is not a {SCHEMA} profile (schema: {got!r})")
    return cast(Profile, profile)


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
        notes.append("one bin edge (the reference is constant): values <= it and values above it")
    return notes


def _categorical_notes(col: CategoricalColumnProfile, rows: int) -> list[str]:
    if rows == 0:
        return ["no rows: counts are 0 and null_fraction is 0.0"]
    if col["count"] == 0:
        return ["all values are null: frequencies are empty"]
    return []


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
