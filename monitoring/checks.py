"""Data-quality checks for the ``check`` step: definitions (a pydantic config) and streamed calculations.

Pure and light: imports pyarrow, pydantic and :mod:`stepml.errors` only (no pandas), so the check task
starts fast. Parquet inputs are read in record batches (``batch_size`` rows at a time), never whole, so
memory stays flat for millions of rows.

Inputs. The files passed to one check are parts of ONE scored dataset:

* files with the same columns are row partitions (``part-0.parquet``, ``part-1.parquet``): their rows add;
* files with different columns are column groups of the same rows (the scoring features, the predictions).

So the dataset's ``rows`` is the largest row total among groups of files sharing a column set, and each
column's null fraction is computed over the rows of the files that hold it (its ``sample_size``). NaN in a
floating-point column counts as null.

Checks (``CheckResult.name``; ``summary.failed`` lists keys: ``name`` or, per column, ``name:column``):

* ``row_count`` - ``rows >= min_rows``;
* ``null_fraction`` (one per column) - ``null_count / sample_size <= threshold``, the threshold being the
  column's override in ``columns`` or the default ``max_null_fraction``;
* ``max_null_fraction`` - the worst null fraction among the columns judged by the default threshold (those
  without an override), ``<= max_null_fraction``; ``column`` names the worst column (null if there is none).

Report (JSON, never NaN/Inf; an empty input gives rows 0, null fractions 0.0 and a failed ``row_count``)::

    {"schema": "stepml.checks/1", "status": "pass" | "fail", "rows": 1000,
     "checks": [{"name", "column", "value", "threshold", "comparison", "status", "sample_size"}, ...],
     "summary": {"failed": ["null_fraction:age", ...], "total": 23},
     "inputs": [{"path", "rows", "columns"}, ...], "config": {...}}

Extending (drift): a new calculation is a :class:`BatchAccumulator` fed by :func:`scan` alongside the null
counts, a new config field holds its thresholds, and :func:`evaluate` turns its state into more
``CheckResult`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from stepml.errors import StepInputError

SCHEMA = "stepml.checks/1"
DEFAULT_BATCH_SIZE = 65_536
READ_BUFFER_BYTES = 1 << 20

# dataset-level checks: their ``column`` is informative (the worst column) and not part of their key
DATASET_CHECKS = frozenset({"row_count", "max_null_fraction"})

Status = Literal["pass", "fail"]
Comparison = Literal[">=", "<="]


# ---------------------------------------------------------------------------------------------- config


class ColumnCheck(BaseModel):
    """Per-column overrides of the dataset-wide defaults."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_null_fraction: float | None = Field(default=None, ge=0.0, le=1.0)


class CheckConfig(BaseModel):
    """The ``check`` step's configuration (the spec's ``checks:`` block, passed to the task as JSON)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_rows: int = Field(default=1, ge=0)
    max_null_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    columns: dict[str, ColumnCheck] = Field(default_factory=dict)
    fail_run: bool = False

    def null_threshold(self, column: str) -> tuple[float, bool]:
        """The null-fraction threshold for ``column`` and whether it is an override."""
        override = self.columns.get(column)
        if override is not None and override.max_null_fraction is not None:
            return override.max_null_fraction, True
        return self.max_null_fraction, False


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

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def status(self) -> Status:
        return "fail" if self.failed else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "status": self.status,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
            "summary": {"failed": [c.key for c in self.failed], "total": len(self.checks)},
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


@dataclass
class ColumnNulls:
    """Null count of one column over the rows of the inputs holding it."""

    sample_size: int = 0
    nulls: int = 0

    @property
    def fraction(self) -> float:
        return self.nulls / self.sample_size if self.sample_size else 0.0


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

    @property
    def rows(self) -> int:
        """The largest row total among groups of inputs that share a column set (see the module docstring)."""
        groups: dict[tuple[str, ...], int] = {}
        for i in self.inputs:
            key = tuple(sorted(i.columns))
            groups[key] = groups.get(key, 0) + i.rows
        return max(groups.values(), default=0)


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
) -> DatasetStats:
    """Stream every input once, column by column in record batches of ``batch_size`` rows.

    Returns row/null counts and feeds ``accumulators``. Peak memory is about one column batch plus one read
    buffer, whatever the number of columns or the row-group size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    opened = list(files) if files is not None else open_inputs(paths, step=step)
    stats = DatasetStats()
    for path, pf in zip(paths, opened, strict=True):
        source = str(path)
        names = pf.schema_arrow.names
        stats.start_input(source, names, pf.metadata.num_rows)
        try:
            for name in dict.fromkeys(names):
                for batch in pf.iter_batches(batch_size=batch_size, columns=[name], use_threads=False):
                    stats.add_batch(batch, source)
                    for acc in accumulators:
                        acc.add_batch(batch, source)
        except (OSError, pa.ArrowException) as exc:
            raise StepInputError(step, f"input file {source!r} could not be read: {exc}") from exc
    return stats


def evaluate(stats: DatasetStats, config: CheckConfig, *, step: str = "check") -> CheckReport:
    """Turn streamed statistics into check results (pure)."""
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
    return CheckReport(rows=rows, checks=checks, inputs=list(stats.inputs), config=config)


def run_checks(
    paths: Sequence[str | Path],
    config: CheckConfig,
    *,
    step: str = "check",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> CheckReport:
    """Open the inputs, validate the config against their columns (before reading data), scan, evaluate."""
    files = open_inputs(paths, step=step)
    validate_columns(config, available_columns(files), step=step)
    stats = scan(paths, step=step, batch_size=batch_size, files=files)
    return evaluate(stats, config, step=step)


def _result(
    name: str, column: str | None, value: float, threshold: float, comparison: Comparison, sample_size: int
) -> CheckResult:
    if not (math.isfinite(value) and math.isfinite(threshold)):  # cannot happen with validated config
        raise ValueError(f"check {name}: non-finite value {value!r} or threshold {threshold!r}")
    ok = value >= threshold if comparison == ">=" else value <= threshold
    return CheckResult(name, column, value, threshold, comparison, "pass" if ok else "fail", sample_size)


def _fmt(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:.6g}"
