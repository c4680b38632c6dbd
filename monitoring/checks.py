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
     "inputs": [{"path", "rows", "columns"}, ...], "config": {...}}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring.config import CheckConfig, ColumnCheck
from monitoring.drift import DriftReport, evaluate_drift, psi_groups
from monitoring.profile import (
    CategoricalAccumulator,
    CategoricalColumnProfile,
    ColumnProfile,
    NumericAccumulator,
    NumericColumnProfile,
    Profile,
    check_profile,
    new_profile,
    reference_categories,
)
from stepml.errors import StepInputError

SCHEMA = "stepml.checks/2"
DEFAULT_BATCH_SIZE = 65_536
READ_BUFFER_BYTES = 1 << 20

# dataset-level checks: their ``column`` is informative (the worst column) and not part of their key
DATASET_CHECKS = frozenset({"row_count", "max_null_fraction", "dataset_drift"})

Status = Literal["pass", "fail", "insufficient_data"]
Comparison = Literal[">=", "<=", "<", "=="]
_VERDICT_STATUS: dict[str, Status] = {"drift": "fail", "no_drift": "pass", "insufficient_data": "insufficient_data"}


# ---------------------------------------------------------------------------------------------- config


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckResult:
    name: str
    column: str | None
    value: float
    threshold: float
    comparison: Comparison
    status: Status
    sample_size: int
    reference_size: int | None = None
    details: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """Stable id: ``name`` for dataset-level checks, ``name:column`` for per-column ones."""
        return self.name if self.column is None or self.name in DATASET_CHECKS else f"{self.name}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InputStats:
    path: str
    rows: int
    columns: list[str]


@dataclass(frozen=True)
class CheckReport:
    rows: int
    checks: list[CheckResult]
    inputs: list[InputStats] = field(default_factory=list)
    config: CheckConfig = field(default_factory=CheckConfig)
    drift: dict[str, Any] | None = None  # dataset verdict + per-column statistics and plot data
    current_profile: dict[str, Any] | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def status(self) -> Literal["pass", "fail"]:
        return "fail" if self.failed else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "status": self.status,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
            "summary": {
                "failed": [c.key for c in self.failed],
                "insufficient_data": [c.key for c in self.checks if c.status == "insufficient_data"],
                "total": len(self.checks),
            },
            "drift": self.drift,
            "metrics": [],
            "inputs": [asdict(i) for i in self.inputs],
            "config": self.config.model_dump(mode="json"),
        }

    def describe_failures(self) -> str:
        parts = [f"{c.key} ({_fmt(c.value)} {c.comparison} {_fmt(c.threshold)} is false)" for c in self.failed]
        return f"{len(parts)} data-quality check(s) failed: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------- calculations


class BatchAccumulator(Protocol):
    """A streamed calculation: sees every value of every input once.

    :func:`scan` streams one column at a time (memory stays at one column's batch however wide the file and
    however large its row groups), so each batch holds a single column; ``source`` is the input's path.
    """

    def add_batch(self, batch: pa.RecordBatch, source: str) -> None: ...

    def start_input(self, source: str, file: pq.ParquetFile) -> None:
        """Called before an input's batches stream (an accumulator may read what it needs from its footer)."""


@dataclass
class ColumnNulls:
    """Null count of one column over the rows of the inputs holding it."""

    sample_size: int = 0
    nulls: int = 0
    floating: bool = False  # a floating-point column: +-Inf possible
    nonfinite: int = 0  # +-Inf values

    @property
    def fraction(self) -> float:
        return self.nulls / self.sample_size if self.sample_size else 0.0

    @property
    def nonfinite_fraction(self) -> float:
        """+-Inf values among the non-null ones."""
        values = self.sample_size - self.nulls
        return self.nonfinite / values if values else 0.0


@dataclass
class DatasetStats:
    """Row and null counts of a set of inputs; a :class:`BatchAccumulator`."""

    inputs: list[InputStats] = field(default_factory=list)
    columns: dict[str, ColumnNulls] = field(default_factory=dict)

    def start_input(self, source: str, columns: Sequence[str], rows: int) -> None:
        """Register an input (its row count from the parquet footer); its column batches follow."""
        self.inputs.append(InputStats(source, rows, list(columns)))
        for name in columns:
            self.columns.setdefault(name, ColumnNulls())

    def add_batch(self, batch: pa.RecordBatch, source: str) -> None:
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            col = self.columns.setdefault(name, ColumnNulls())
            col.sample_size += batch.num_rows
            col.nulls += null_count(array)
            if pa.types.is_floating(array.type):
                col.floating = True
                col.nonfinite += int(pc.sum(pc.is_inf(array)).as_py() or 0)

    @property
    def rows(self) -> int:
        """The largest row total among groups of inputs that share a column set (see the module docstring)."""
        groups: dict[tuple[str, ...], int] = {}
        for i in self.inputs:
            key = tuple(sorted(i.columns))
            groups[key] = groups.get(key, 0) + i.rows
        return max(groups.values(), default=0)


class ProfileAccumulator:
    """The current batch's profile against a reference (same edges and categories); a :class:`BatchAccumulator`.

    ``extra_numeric`` names columns outside the reference to summarize too (e.g. ``score`` for the prediction
    mean). One accumulator over every partition is the merge of the partitions' profiles.
    """

    def __init__(self, reference: Profile, extra_numeric: Sequence[str] = (), *, step: str = "check") -> None:
        self.reference = reference
        self.step = step
        self.numeric: dict[str, NumericAccumulator] = {}
        self.categorical: dict[str, CategoricalAccumulator] = {}
        # per-unit columns (the reference's ``units``): one row per unit, chosen as the reference was
        self.units: dict[str, tuple[str, ...]] = {
            name: tuple(col["units"]) for name, col in reference["columns"].items() if col.get("units")
        }
        self._seen: dict[tuple[str, ...], list[set[Any]]] = {u: [set() for _ in u] for u in self.units.values()}
        self._masks: dict[tuple[str, ...], Any] = {}
        self._offsets: dict[str, int] = {}
        for name, col in reference["columns"].items():
            if col["kind"] == "numeric":
                self.numeric[name] = NumericAccumulator(col["bin_edges"], col["role"])  # type: ignore[typeddict-item]
            else:
                self.categorical[name] = CategoricalAccumulator(col["role"])
        for name in extra_numeric:
            self.numeric.setdefault(name, NumericAccumulator([], "prediction"))

    def start_input(self, source: str, file: pq.ParquetFile) -> None:
        """Select this input's rows that are the first of their units (across every input so far)."""
        from monitoring.profile import first_of_units

        self._masks, self._offsets = {}, {}
        names = file.schema_arrow.names
        for unit_cols in dict.fromkeys(u for c, u in self.units.items() if c in names):
            missing = [u for u in unit_cols if u not in names]
            if missing:
                columns = [c for c, u in self.units.items() if u == unit_cols and c in names]
                raise StepInputError(
                    self.step,
                    f"input {source!r}: column(s) {columns} are checked per unit of {list(unit_cols)} (the "
                    f"reference profile's units) but the input has no {', '.join(map(repr, missing))}",
                )
            table = file.read(columns=list(unit_cols), use_threads=False)
            self._masks[unit_cols] = first_of_units([table.column(u) for u in unit_cols], self._seen[unit_cols])

    def add_batch(self, batch: pa.RecordBatch, source: str) -> None:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            array = column
            unit_cols = self.units.get(name)
            if unit_cols is not None:
                start = self._offsets.get(name, 0)
                self._offsets[name] = start + len(column)
                array = column.filter(pa.array(self._masks[unit_cols][start : start + len(column)]))
            if name in self.numeric:
                self.numeric[name].add(self._floats(name, array, source))
            elif name in self.categorical:
                counts = pc.value_counts(array)
                pairs = zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
                self.categorical[name].add_counts(pairs)

    def _floats(self, name: str, array: pa.Array, source: str) -> Any:
        t = array.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)):
            raise StepInputError(
                self.step, f"column {name!r} in {source!r} has type {t}; the reference profile says numeric"
            )
        if not pa.types.is_float64(t):
            array = pc.cast(array, pa.float64())
        return array.to_numpy(zero_copy_only=False)

    def profile(self, rows: int) -> dict[str, Any]:
        columns: dict[str, ColumnProfile] = {}
        for name, col in self.reference["columns"].items():
            if col["kind"] == "numeric":
                columns[name] = self.numeric[name].to_profile()
            else:
                cats = reference_categories(col)  # type: ignore[arg-type]
                columns[name] = self.categorical[name].to_profile(cats)
            if name in self.units:
                columns[name]["units"] = list(self.units[name])
        for name, acc in self.numeric.items():
            if name not in columns:
                columns[name] = acc.to_profile()
        return new_profile(columns, rows, self.reference["params"])


def null_count(array: pa.Array | pa.ChunkedArray) -> int:
    """Nulls in ``array``, NaN included for floating-point types."""
    nulls = int(array.null_count)
    if pa.types.is_floating(array.type):
        nans = pc.sum(pc.is_nan(array)).as_py()
        nulls += int(nans or 0)
    return nulls


def open_inputs(paths: Sequence[str | Path], *, step: str = "check") -> list[pq.ParquetFile]:
    """Open every input (reads footers only); a missing or corrupt file raises StepInputError naming it."""
    if not paths:
        raise StepInputError(step, "no input files to check")
    files = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise StepInputError(step, f"input file {str(p)!r} does not exist or is not a file")
        try:
            # a bounded read buffer: pages are read as needed, not whole column chunks
            files.append(pq.ParquetFile(p, buffer_size=READ_BUFFER_BYTES, pre_buffer=False))
        except (OSError, pa.ArrowException) as exc:
            raise StepInputError(step, f"input file {str(p)!r} is not a readable parquet file: {exc}") from exc
    return files


def available_columns(files: Iterable[pq.ParquetFile]) -> list[str]:
    names: dict[str, None] = {}
    for f in files:
        names.update(dict.fromkeys(f.schema_arrow.names))
    return list(names)


def validate_columns(config: CheckConfig, available: Sequence[str], *, step: str = "check") -> None:
    """Every column named in ``config.columns`` must be in the data."""
    unknown = [name for name in config.columns if name not in available]
    if unknown:
        raise StepInputError(
            step,
            f"check config names column(s) {', '.join(map(repr, unknown))} that are not in the input; "
            f"available columns: {', '.join(available) or '(none)'}",
        )


def scan(
    paths: Sequence[str | Path],
    *,
    step: str = "check",
    batch_size: int = DEFAULT_BATCH_SIZE,
    accumulators: Sequence[BatchAccumulator] = (),
    files: Sequence[pq.ParquetFile] | None = None,
    columns: Sequence[Sequence[str] | None] | None = None,
) -> DatasetStats:
    """Stream every input once, column by column in record batches of ``batch_size`` rows.

    Returns row/null counts and feeds ``accumulators``. ``columns[i]`` restricts input ``i`` to those columns
    (None: all). Peak memory is about one column batch plus one read buffer.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    opened = list(files) if files is not None else open_inputs(paths, step=step)
    wanted = list(columns) if columns is not None else [None] * len(opened)
    stats = DatasetStats()
    for path, pf, only in zip(paths, opened, wanted, strict=True):
        source = str(path)
        names = [n for n in pf.schema_arrow.names if only is None or n in only]
        stats.start_input(source, names, pf.metadata.num_rows)
        try:
            for acc in accumulators:
                acc.start_input(source, pf)
            for name in dict.fromkeys(names):
                for batch in pf.iter_batches(batch_size=batch_size, columns=[name], use_threads=False):
                    stats.add_batch(batch, source)
                    for acc in accumulators:
                        acc.add_batch(batch, source)
        except (OSError, pa.ArrowException) as exc:
            raise StepInputError(step, f"input file {source!r} could not be read: {exc}") from exc
    return stats


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


def drift_checks(report: DriftReport) -> list[CheckResult]:
    """``drift:<column>`` per profiled column and ``dataset_drift``."""
    out = []
    for r in report.columns:
        status = _VERDICT_STATUS[r.verdict]
        details = {
            "test": r.test,
            "statistic": r.statistic,
            "p_value": r.p_value,
            "p_adjusted": r.p_adjusted,
            "alpha": report.alpha,
            "correction": report.correction,
            "effect": r.effect,
            "psi": r.psi,
            "wasserstein": r.wasserstein,
            "role": r.role,
            "kind": r.kind,
            **r.extra,
        }
        out.append(
            CheckResult("drift", r.column, r.value, r.threshold, "<", status, r.sample_size, r.reference_size, details)
        )
    dataset_status = _VERDICT_STATUS[report.dataset_verdict]
    drifted = [r.column for r in report.columns if r.verdict == "drift"]
    dataset: dict[str, Any] = {"drifted": drifted, "tested_features": report.tested_features}
    if report.dataset_verdict == "insufficient_data":
        dataset["reason"] = "no column has enough non-null values for a verdict (see each drift check's reason)"
    out.append(
        CheckResult(
            "dataset_drift",
            None,
            report.drifted_share,
            report.dataset_threshold,
            "<",
            dataset_status,
            report.tested_features,
            None,
            dataset,
        )
    )
    return out


def drift_section(report: DriftReport, reference: Profile, current: Mapping[str, Any], psi_bins: int) -> dict[str, Any]:
    """The report's ``drift`` section: the dataset verdict and, per column, statistics and plot data."""
    columns: dict[str, Any] = {}
    for r in report.columns:
        ref, cur = reference["columns"][r.column], current["columns"][r.column]
        columns[r.column] = {
            "verdict": r.verdict,
            "role": r.role,
            "kind": r.kind,
            "test": r.test,
            "statistic": r.statistic,
            "p_value": r.p_value,
            "p_adjusted": r.p_adjusted,
            "psi": r.psi,
            "wasserstein": r.wasserstein,
            "effect": r.effect,
            "value": r.value,
            "threshold": r.threshold,
            "reference_size": r.reference_size,
            "sample_size": r.sample_size,
            "bins": plot_bins(ref, cur, psi_bins),
        }
    return {
        "dataset": {
            "verdict": report.dataset_verdict,
            "drifted_share": report.drifted_share,
            "threshold": report.dataset_threshold,
            "tested_features": report.tested_features,
            "drifted": [r.column for r in report.columns if r.verdict == "drift"],
            "alpha": report.alpha,
            "correction": report.correction,
        },
        "columns": columns,
    }


def plot_bins(ref: ColumnProfile, cur: ColumnProfile, psi_bins: int) -> list[dict[str, Any]]:
    """Reference and current shares per PSI group (numeric) or category, for the report's plots."""
    if ref["kind"] == "numeric":
        rn, cn = ref, cur
        r = np.asarray(rn["bin_counts"], dtype=np.float64)  # type: ignore[typeddict-item]
        c = np.asarray(cn["bin_counts"], dtype=np.float64)  # type: ignore[typeddict-item]
        edges: list[float] = rn["bin_edges"]  # type: ignore[typeddict-item]
        if r.size == 0:
            return []
        g = psi_groups(r.astype(np.int64), psi_bins)
        k = int(g.max()) + 1
        rs = np.bincount(g, weights=r, minlength=k) / max(r.sum(), 1)
        cs = np.bincount(g, weights=c, minlength=k) / max(c.sum(), 1)
        out = []
        for j in range(k):
            idx = np.flatnonzero(g == j)
            hi = int(idx.max())
            upper = f"{edges[hi]:.4g}" if hi < len(edges) else "inf"
            out.append({"label": f"<= {upper}", "reference": float(rs[j]), "current": float(cs[j])})
        return out
    rf: dict[str, int] = ref["frequencies"]  # type: ignore[typeddict-item]
    cf: dict[str, int] = cur["frequencies"]  # type: ignore[typeddict-item]
    rt, ct = max(sum(rf.values()), 1), max(sum(cf.values()), 1)
    return [{"label": k, "reference": rf[k] / rt, "current": cf.get(k, 0) / ct} for k in rf]


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


def with_checks(report: CheckReport, more: Sequence[CheckResult]) -> CheckReport:
    return CheckReport(
        rows=report.rows,
        checks=[*report.checks, *more],
        inputs=report.inputs,
        config=report.config,
        drift=report.drift,
        current_profile=report.current_profile,
    )


def _result(
    name: str, column: str | None, value: float, threshold: float, comparison: Comparison, sample_size: int
) -> CheckResult:
    if not (math.isfinite(value) and math.isfinite(threshold)):  # cannot happen with validated config
        raise ValueError(f"check {name}: non-finite value {value!r} or threshold {threshold!r}")
    ok = value >= threshold if comparison == ">=" else value <= threshold
    return CheckResult(name, column, value, threshold, comparison, "pass" if ok else "fail", sample_size)


def _fmt(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:.6g}"


__all__ = [
    "CategoricalColumnProfile",
    "CheckConfig",
    "CheckReport",
    "CheckResult",
    "ColumnCheck",
    "NumericColumnProfile",
    "run_checks",
]
