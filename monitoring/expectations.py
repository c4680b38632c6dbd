"""Data quality with Great Expectations 1.x: a suite generated from the reference profile, results in stepml's schema.

Definitions apart from calculations: :func:`suite_definition` expands the profile and the check config into small
serializable :class:`ExpectationDef` records (pure, no GX import); :func:`validate` builds the GX suite from them
in an ephemeral context (nothing written to a GX directory, no progress bars, no usage statistics) and turns each
GX result into a :class:`monitoring.checks.CheckResult`.

Generated per reference column (overrides: the spec's ``check.columns.<name>``):

* ``expect_column_to_exist``;
* ``expect_column_values_to_be_in_type_list`` - numeric columns: integer, float or boolean types; categorical:
  any (their values are compared as strings);
* ``expect_column_values_to_not_be_null`` with ``mostly = 1 - max_null_fraction`` (value: the null fraction);
* numeric: ``expect_column_values_to_be_between`` the reference ``[min, max]`` widened by ``range_tolerance``
  times the range on each side (or ``min_value``/``max_value``), ``mostly = 1 - max_out_of_range_share``
  (value: the share outside), or lower for a small reference or batch: a value from the reference's own
  distribution falls outside the range of its N values with a probability distributed Beta(2, N - 1) (mean
  ``2/(N+1)``), and the check allows the beta-binomial ``1 - false_failure_rate`` quantile of that many;
* categorical: ``expect_column_values_to_be_in_set`` of the reference categories (all of them must be in the
  profile: a profile that folded rare categories into ``__other__`` skips this check),
  ``mostly = 1 - max_unseen_share`` (value: the share of unseen values), or lower as above with the
  Good-Turing rate ``(singletons + 1) / (N + 1)`` of a value the reference never saw.

GX is imported lazily (about 2.5-4 s); its import-time DeprecationWarnings are silenced here, locally.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from monitoring.checks import CheckResult, Status
from monitoring.config import CheckConfig, ExpectationSettings
from monitoring.profile import OTHER, CategoricalColumnProfile, NumericColumnProfile, Profile
from stepml.errors import StepInputError

if TYPE_CHECKING:
    import pandas as pd

NUMERIC_TYPES = [
    "int8", "int16", "int32", "int64", "Int8", "Int16", "Int32", "Int64",
    "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64", "Float32", "Float64",
    "bool", "boolean",
]  # fmt: skip


@dataclass(frozen=True)
class ExpectationDef:
    """One expectation: the GX class name, its column, keyword arguments, and how it shows as a stepml check."""

    name: str  # the check name, e.g. "expect_column_values_to_not_be_null"
    gx_type: str  # the GX class, e.g. "ExpectColumnValuesToNotBeNull"
    column: str
    kwargs: dict[str, Any]
    threshold: float  # the allowed share of unexpected values (0 for existence/type)
    # range / in-set: Beta(a, b), the distribution over references of the chance that a value of the reference's
    # own distribution is unexpected; the allowed count grows to the beta-binomial quantile (allowed_unexpected)
    base: tuple[float, float] | None = None
    false_failure_rate: float = ExpectationSettings().false_failure_rate


def allowed_unexpected(n: int, share: float, base: tuple[float, float] | None, false_failure_rate: float) -> int:
    """How many of ``n`` values may be unexpected: ``share * n``, or more when a batch drawn from the reference's
    own distribution would exceed that with probability above ``false_failure_rate``.

    ``base = (a, b)``: the chance that such a value is unexpected is Beta(a, b) over references (the mass outside
    the range of N continuous values is exactly Beta(2, N - 1)), so the count is beta-binomial.
    """
    allowed = math.floor(share * n + 1e-9)
    if base is None or n == 0:
        return allowed
    from scipy.stats import betabinom

    return max(allowed, int(betabinom.ppf(1.0 - false_failure_rate, n, *base)))


def suite_definition(reference: Profile, config: CheckConfig) -> list[ExpectationDef]:
    """Expand the reference profile into expectation definitions (pure)."""
    e = config.expectations
    out: list[ExpectationDef] = []
    for name, col in reference["columns"].items():
        if name not in _present_columns(reference):
            continue
        o = config.columns.get(name)
        out.append(ExpectationDef("expect_column_to_exist", "ExpectColumnToExist", name, {}, 0.0))
        if col["kind"] == "numeric":
            out.append(
                ExpectationDef(
                    "expect_column_values_to_be_in_type_list",
                    "ExpectColumnValuesToBeInTypeList",
                    name,
                    {"type_list": NUMERIC_TYPES},
                    0.0,
                )
            )
        null_max, _ = config.null_threshold(name)
        out.append(
            ExpectationDef(
                "expect_column_values_to_not_be_null",
                "ExpectColumnValuesToNotBeNull",
                name,
                {"mostly": 1.0 - null_max},
                null_max,
            )
        )
        if col["kind"] == "numeric":
            num = cast(NumericColumnProfile, col)
            ref_lo, ref_hi = num["min"], num["max"]
            tol = o.range_tolerance if o and o.range_tolerance is not None else e.range_tolerance
            span = (ref_hi - ref_lo) if ref_lo is not None and ref_hi is not None else 0.0
            lo = o.min_value if o and o.min_value is not None else (None if ref_lo is None else ref_lo - tol * span)
            hi = o.max_value if o and o.max_value is not None else (None if ref_hi is None else ref_hi + tol * span)
            if lo is not None or hi is not None:
                finite = num["count"] - num["nonfinite_count"]
                out.append(
                    ExpectationDef(
                        "expect_column_values_to_be_between",
                        "ExpectColumnValuesToBeBetween",
                        name,
                        {"min_value": lo, "max_value": hi, "mostly": 1.0 - e.max_out_of_range_share},
                        e.max_out_of_range_share,
                        # outside [min, max] of N continuous values: Beta(2, N - 1); the tolerance only lowers it
                        None
                        if (o and (o.min_value is not None or o.max_value is not None))
                        else (2.0, max(finite - 1, 1)),
                        e.false_failure_rate,
                    )
                )
        else:
            freq = cast(CategoricalColumnProfile, col)["frequencies"]
            if freq.get(OTHER, 0) == 0 and len(freq) > 1:
                unseen = o.max_unseen_share if o and o.max_unseen_share is not None else e.max_unseen_share
                singletons = sum(1 for k, v in freq.items() if k != OTHER and v == 1)
                out.append(
                    ExpectationDef(
                        "expect_column_values_to_be_in_set",
                        "ExpectColumnValuesToBeInSet",
                        name,
                        {"value_set": [k for k in freq if k != OTHER], "mostly": 1.0 - unseen},
                        unseen,
                        # a value unseen among N: mean (singletons + 1) / (N + 1), Good-Turing's estimate
                        (singletons + 1.0, max(col["count"] - singletons, 1)),
                        e.false_failure_rate,
                    )
                )
    return out


def _present_columns(reference: Profile) -> set[str]:
    return set(reference["columns"])


def sized(definitions: list[ExpectationDef], frame: pd.DataFrame) -> list[ExpectationDef]:
    """The definitions with ``mostly`` (and the threshold) set for the batch's non-null count per column."""
    out = []
    for d in definitions:
        if d.base is None or d.column not in frame.columns:
            out.append(d)
            continue
        n = int(frame[d.column].notna().sum())
        k = allowed_unexpected(n, d.threshold, d.base, d.false_failure_rate)
        share = max(d.threshold, k / n if n else 0.0)
        mostly = max(0.0, 1.0 - share - 1e-12)
        kwargs = {**d.kwargs, "mostly": mostly}
        out.append(ExpectationDef(d.name, d.gx_type, d.column, kwargs, share, d.base, d.false_failure_rate))
    return out


def validate(frame: pd.DataFrame, definitions: list[ExpectationDef], *, step: str = "check") -> list[CheckResult]:
    """Run the expectations on ``frame`` with GX; one CheckResult per expectation. Range and in-set
    expectations allow the batch's binomial quantile at their ``false_failure_rate`` (:func:`sized`)."""
    if not definitions:
        return []
    import pandas as pd

    definitions = sized(definitions, frame)

    with _GX_IMPORT:
        gx, gxe = _import_gx()
    frame = frame.copy()
    for d in definitions:  # categoricals are compared as strings, as in the profile
        if d.gx_type == "ExpectColumnValuesToBeInSet" and d.column in frame.columns:
            col = frame[d.column]
            frame[d.column] = col.where(col.isna(), col.astype(str))
    try:
        context = gx.get_context(mode="ephemeral", project_config=_project_config())
        source = context.data_sources.add_pandas("stepml")
        batch_def = source.add_dataframe_asset("current").add_batch_definition_whole_dataframe("all")
        suite = gx.ExpectationSuite(name="stepml-reference")
        for d in definitions:
            suite.add_expectation(getattr(gxe, d.gx_type)(column=d.column, **d.kwargs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas FutureWarnings raised inside GX's metric code
            batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(suite, result_format="BASIC")
    except Exception as exc:  # GX errors enter stepml here
        raise StepInputError(step, f"Great Expectations validation failed: {type(exc).__name__}: {exc}") from exc
    rows = len(frame)
    out: list[CheckResult] = []
    for d, r in zip(definitions, result.results, strict=True):
        res = r.result or {}
        share = res.get("unexpected_percent")
        value = float(share) / 100.0 if share is not None else (0.0 if r.success else 1.0)
        count = int(res.get("element_count") or rows)
        if d.gx_type == "ExpectColumnValuesToNotBeNull":
            value = float(res.get("unexpected_count") or 0) / count if count else 0.0
        status: Status = "pass" if r.success else "fail"
        details: dict[str, Any] = {"gx": d.gx_type, **{k: v for k, v in d.kwargs.items() if k != "value_set"}}
        if d.base is not None:
            details["base_rate"] = d.base[0] / (d.base[0] + d.base[1])
        if "observed_value" in res and res["observed_value"] is not None:
            details["observed"] = str(res["observed_value"])
        if res.get("partial_unexpected_list"):
            details["examples"] = [str(v) for v in res["partial_unexpected_list"][:5]]
        out.append(CheckResult(d.name, d.column, _finite(value), d.threshold, "<=", status, count, None, details))
    _ = pd
    return out


def frame_from_parquet(paths: list[str], columns: list[str], max_rows: int | None) -> pd.DataFrame:
    """The columns of the dataset (row partitions concatenated; column groups side by side), optionally capped
    to a deterministic, evenly spaced sample of ``max_rows`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    groups: dict[tuple[str, ...], list[Any]] = {}
    for p in paths:
        pf = pq.ParquetFile(p)
        cols = tuple(c for c in pf.schema_arrow.names if c in columns)
        if cols:
            groups.setdefault(cols, []).append(pq.read_table(p, columns=list(cols)))
    tables = [pa.concat_tables(ts) for ts in groups.values()]
    if not tables:
        import pandas as pd

        return pd.DataFrame()
    n = max(t.num_rows for t in tables)
    merged: dict[str, Any] = {}
    for t in tables:
        if t.num_rows != n:
            continue
        for name in t.column_names:
            merged.setdefault(name, t.column(name))
    table = pa.table(merged)
    if max_rows is not None and table.num_rows > max_rows:
        import numpy as np

        table = table.take(np.linspace(0, table.num_rows - 1, max_rows).astype(np.int64))
    frame: pd.DataFrame = table.to_pandas()
    return frame


_GX_IMPORT = threading.Lock()  # one import at a time: preload() and the validation may race


def _import_gx() -> tuple[Any, Any]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sre_constants / pkg_resources deprecations raised at GX import
        import great_expectations as gx
        import great_expectations.expectations as gxe
    return gx, gxe


def preload() -> None:
    """Import Great Expectations ahead of time (the check task calls this on a background thread)."""
    with _GX_IMPORT:
        _import_gx()


def _project_config() -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )


def _finite(x: float) -> float:
    import math

    return x if math.isfinite(x) else 0.0


def run_expectations(
    reference: Mapping[str, Any], config: CheckConfig, paths: list[str], *, step: str = "check"
) -> list[CheckResult]:
    """Load the profiled columns of ``paths`` and validate the generated suite on them."""
    ref: Profile = reference  # type: ignore[assignment]
    definitions = suite_definition(ref, config)
    if not definitions or not config.expectations.enabled:
        return []
    frame = frame_from_parquet(paths, list(ref["columns"]), config.expectations.max_rows)
    return validate(frame, definitions, step=step)
