"""Checks of the ``check`` step: definitions (pydantic configs) and streamed calculations, one result document.

Imports pyarrow, numpy, pydantic and :mod:`stepml.errors` only (no pandas): the task starts fast. Parquet
inputs are read one column at a time in record batches (``batch_size`` rows), never whole, so memory stays flat
for millions of rows. Great Expectations (:mod:`monitoring.expectations`) is imported only when a reference
profile is given.

Inputs. The files passed to one check are parts of ONE scored dataset:

* files with the same columns are row partitions (``part-0.parquet``, ``part-1.parquet``): their rows add;
* files with different columns are column groups of the same rows (the scoring features, the predictions).

So the dataset's ``rows`` is the largest row total among groups of files sharing a column set, and each
column's statistics are computed over the rows of the files that hold it (its ``sample_size``). NaN in a
floating-point column counts as null. Streaming every partition into one accumulator per column is exactly
merging the partitions' profiles (:func:`monitoring.profile.merge_profiles`).

Checks (``CheckResult.name``; ``summary.failed`` lists keys: ``name`` or, per column, ``name:column``):

* ``row_count`` - ``rows >= min_rows``;
* ``null_fraction`` (one per column) - ``null_count / sample_size <= threshold`` (the column's override or the
  default ``max_null_fraction``);
* ``max_null_fraction`` - the worst null fraction among the columns judged by the default threshold;
* ``all_null`` (one per column) - fails when the column holds no non-null value in the batch (with rows) or
  in the reference profile: a feature that carries nothing;
* ``nonfinite_fraction`` (one per floating-point column) - +-Inf values among the non-null ones
  ``<= max_nonfinite_fraction`` (default 0: any infinity fails; per-column override);
* with a reference profile: ``drift`` (one per profiled column, features and prediction; see
  :mod:`monitoring.drift`), ``dataset_drift`` (share of drifted features), and the expectations generated from
  the profile (``expect_*``, :mod:`monitoring.expectations`).

Status of a check: ``pass``, ``fail``, or ``insufficient_data`` (too few values for a verdict; never a failure).

Report: the versioned document ``stepml.checks/2`` (JSON Schema: ``schemas/checks.schema.json``; never NaN or
Inf)::

    {"schema": "stepml.checks/2", "status": "pass" | "fail", "rows": 1000,
     "checks": [{"name", "column", "value", "threshold", "comparison", "status", "sample_size",
                 "reference_size", "details"}, ...],
     "summary": {"failed": ["null_fraction:age", ...], "insufficient_data": [...], "total": 23},
     "drift": {"dataset": {...}, "columns": {...}} | null,
     "metrics": [...],                                  # filled by the entrypoint (monitoring.metrics)
     "inputs": [{"path", "rows", "columns"}, ...], "config": {...}}"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitoring.check_drift import drift_checks, drift_section, plot_bins
from monitoring.check_results import (
    DATASET_CHECKS,
    SCHEMA,
    CheckReport,
    CheckResult,
    Comparison,
    InputStats,
    Status,
    _result,
    with_checks,
)
from monitoring.check_scan import (
    DEFAULT_BATCH_SIZE,
    READ_BUFFER_BYTES,
    BatchAccumulator,
    ColumnNulls,
    DatasetStats,
    ProfileAccumulator,
    available_columns,
    null_count,
    open_inputs,
    scan,
    validate_columns,
)
from monitoring.config import CheckConfig, ColumnCheck
from monitoring.drift import evaluate_drift
from monitoring.profile import (
    CategoricalColumnProfile,
    NumericColumnProfile,
    Profile,
    check_profile,
)
from stepml.errors import StepInputError


def evaluate(stats: DatasetStats, config: CheckConfig, *, step: str = "check") -> CheckReport:
    """Turn streamed row/null statistics into check results (pure)."""
    validate_columns(config, list(stats.columns), step=step)
    rows = stats.rows
    checks = [_result("row_count", None, rows, config.min_rows, ">=", rows)]
    worst: tuple[float, str] | None = None
    for name, col in stats.columns.items():
        threshold, overridden = config.null_threshold(name)
        checks.append(_result("null_fraction", name, col.fraction, threshold, "<=", col.sample_size))
        if not overridden and (worst is None or col.fraction > worst[0]):
            worst = (col.fraction, name)
    worst_value, worst_column = worst if worst is not None else (0.0, None)
    worst_size = stats.columns[worst_column].sample_size if worst_column is not None else rows
    checks.append(_result("max_null_fraction", worst_column, worst_value, config.max_null_fraction, "<=", worst_size))
    for name, col in stats.columns.items():
        empty = col.sample_size > 0 and col.nulls == col.sample_size
        checks.append(_all_null(name, empty, False, col.sample_size))
    for name, col in stats.columns.items():
        if col.floating:
            limit = config.nonfinite_threshold(name)
            values = col.sample_size - col.nulls
            checks.append(_result("nonfinite_fraction", name, col.nonfinite_fraction, limit, "<=", values))
    return CheckReport(rows=rows, checks=checks, inputs=list(stats.inputs), config=config)


def _all_null(name: str, current: bool, reference: bool, sample_size: int) -> CheckResult:
    """``all_null:<column>``: fails when the batch's column, or the reference's, holds no non-null value."""
    value = 1.0 if current or reference else 0.0
    status: Status = "fail" if value else "pass"
    details = {"current_all_null": current, "reference_all_null": reference}
    return CheckResult("all_null", name, value, 0.0, "<=", status, sample_size, None, details)


def run_checks(
    paths: Sequence[str | Path],
    config: CheckConfig,
    *,
    step: str = "check",
    batch_size: int = DEFAULT_BATCH_SIZE,
    reference: Mapping[str, Any] | None = None,
    prediction_paths: Sequence[str | Path] = (),
) -> CheckReport:
    """Open the inputs, validate the config against their columns (before reading data), scan, evaluate.

    ``paths`` hold the scored features; ``prediction_paths`` the scoring output (only its ``prediction`` and
    ``score`` columns are read). With a ``reference`` profile, drift and the expectation suite run too.
    """
    all_paths = [*paths, *prediction_paths]
    files = open_inputs(all_paths, step=step)
    validate_columns(config, available_columns(files), step=step)
    ref: Profile | None = None
    if reference is not None:
        try:
            ref = check_profile(reference, "the reference profile")
        except ValueError as exc:
            raise StepInputError(step, str(exc)) from exc
    pred_cols = (
        ["prediction", "score"]
        if ref is None
        else [n for n, c in ref["columns"].items() if c["role"] == "prediction"] + ["score"]
    )
    columns: list[Sequence[str] | None] = [None] * len(paths) + [pred_cols] * len(prediction_paths)
    accumulators: list[BatchAccumulator] = []
    profiler: ProfileAccumulator | None = None
    if ref is not None:
        available = available_columns(files)
        missing = [n for n in ref["columns"] if n not in available]
        if missing:
            raise StepInputError(
                step, f"column(s) {', '.join(map(repr, missing))} of the reference profile are not in the input"
            )
        profiler = ProfileAccumulator(
            ref, ["score"] if "score" in available and "score" not in ref["columns"] else [], step=step
        )
        accumulators.append(profiler)
    stats = scan(all_paths, step=step, batch_size=batch_size, files=files, accumulators=accumulators, columns=columns)
    report = evaluate(stats, config, step=step)
    if ref is None or profiler is None:
        return report
    current = profiler.profile(stats.rows)
    settings = config.drift_settings()
    checks = [_with_reference_nulls(c, ref) for c in report.checks]
    section = None
    if settings.enabled:
        drift = evaluate_drift(ref["columns"], current["columns"], settings)
        checks += drift_checks(drift)
        section = drift_section(drift, ref, current, settings.psi_bins)
    return CheckReport(
        rows=report.rows,
        checks=checks,
        inputs=report.inputs,
        config=config,
        drift=section,
        current_profile=current,
    )


def _with_reference_nulls(check: CheckResult, ref: Profile) -> CheckResult:
    """An ``all_null`` check also fails when the reference column has no non-null value."""
    col = ref["columns"].get(check.column or "")
    if check.name != "all_null" or col is None or col["count"] > 0:
        return check
    current = bool((check.details or {}).get("current_all_null"))
    return _all_null(check.name if check.column is None else check.column, current, True, check.sample_size)


__all__ = [
    "CategoricalColumnProfile",
    "CheckConfig",
    "CheckReport",
    "CheckResult",
    "ColumnCheck",
    "NumericColumnProfile",
    "run_checks",
]


__all__ = [
    "DATASET_CHECKS",
    "DATASET_CHECKS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BATCH_SIZE",
    "READ_BUFFER_BYTES",
    "READ_BUFFER_BYTES",
    "SCHEMA",
    "SCHEMA",
    "BatchAccumulator",
    "CheckReport",
    "CheckResult",
    "ColumnNulls",
    "Comparison",
    "DatasetStats",
    "InputStats",
    "ProfileAccumulator",
    "Status",
    "available_columns",
    "drift_checks",
    "drift_section",
    "evaluate",
    "null_count",
    "open_inputs",
    "plot_bins",
    "run_checks",
    "scan",
    "validate_columns",
    "with_checks",
]
