"""Streaming the check step's inputs: null counts and profiles accumulated batch by batch from parquet files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring.check_results import InputStats
from monitoring.config import CheckConfig
from monitoring.profile import (
    CategoricalAccumulator,
    ColumnProfile,
    NumericAccumulator,
    Profile,
    new_profile,
    reference_categories,
)
from stepml.errors import StepInputError

DEFAULT_BATCH_SIZE = 65_536


READ_BUFFER_BYTES = 1 << 20


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
