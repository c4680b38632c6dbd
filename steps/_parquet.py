"""Reading parquet inputs in the step entrypoints: checked schemas, errors that name the file and column."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stepml.errors import StepInputError

# --------------------------------------------------------------------------------------------- parquet


_READ_BUFFER = 1 << 20


def open_parquet(path: Path, *, step: str) -> pq.ParquetFile:
    """Open a parquet file (reads only the footer); a missing or non-parquet file is a StepInputError."""
    if not path.is_file():
        raise StepInputError(step, f"input file {path} does not exist")
    try:
        # buffered stream reads: a batch decodes page by page instead of loading whole column chunks, so
        # memory does not follow the writer's row group size
        return pq.ParquetFile(path, buffer_size=_READ_BUFFER, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise StepInputError(step, f"input file {path} is not a readable parquet file: {exc}") from exc


def list_parquet_files(directory: Path, *, step: str) -> list[Path]:
    """All ``*.parquet`` files under ``directory``, sorted by relative path."""
    if not directory.is_dir():
        raise StepInputError(step, f"input directory {directory} does not exist")
    files = sorted(
        (p for p in directory.rglob("*.parquet") if p.is_file()),
        key=lambda p: p.relative_to(directory).as_posix(),
    )
    if not files:
        raise StepInputError(step, f"no *.parquet files in {directory}")
    return files


def _is_number(dtype: pa.DataType) -> bool:
    t = pa.types
    return bool(t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype) or t.is_boolean(dtype)) or bool(
        t.is_null(dtype)
    )


def schema_problems(
    schema: pa.Schema, *, required: Sequence[str], numeric: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(missing columns, problems with the types of numeric columns) for one file's arrow schema."""
    names = set(schema.names)
    missing = [c for c in required if c not in names]
    bad_types = [
        f"{c!r} has type {schema.field(c).type} (expected a number type; declare it in 'categorical' "
        "if it is a category)"
        for c in numeric
        if c in names and not _is_number(schema.field(c).type)
    ]
    return missing, bad_types


def check_files(
    files: Mapping[Path, pq.ParquetFile],
    *,
    required: Sequence[str],
    numeric: Sequence[str],
    step: str,
    what: str,
) -> None:
    """Raise one StepInputError naming every missing column / badly typed numeric column and its files."""
    missing_in: dict[str, list[str]] = {}
    type_problems: list[str] = []
    for path, pf in files.items():
        missing, bad = schema_problems(pf.schema_arrow, required=required, numeric=numeric)
        for column in missing:
            missing_in.setdefault(column, []).append(path.name)
        type_problems += [f"{problem} in {path.name}" for problem in bad]
    messages = []
    if missing_in:
        columns = sorted(missing_in, key=list(required).index)
        file_sets = {tuple(v) for v in missing_in.values()}
        if len(file_sets) == 1:
            (names,) = file_sets
            detail = f"missing column(s) {columns} in {_files(names, len(files))}"
        else:
            detail = "missing column(s): " + ", ".join(f"{c!r} in {_files(missing_in[c], len(files))}" for c in columns)
        messages.append(f"{detail}; {what}")
    messages += type_problems
    if messages:
        directory = sorted({str(p.parent) for p in files})
        raise StepInputError(step, "; ".join(messages) + f" (input: {', '.join(directory)})")


def _files(names: Sequence[str], total: int) -> str:
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    return f"{len(names)} of {total} file(s): {shown}" if total > 1 else shown


# nullable pandas types for integers and booleans, so a null does not turn an int column into floats
_NULLABLE: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas(types_mapper=_NULLABLE.get)
    return frame


def read_parquet_files(files: Sequence[Path], *, columns: Sequence[str], step: str) -> pd.DataFrame:
    """Read ``columns`` from every file (in order) into one DataFrame; errors name the file."""
    tables = []
    for path in files:
        pf = open_parquet(path, step=step)
        try:
            tables.append(pf.read(columns=list(columns), use_threads=True))
        except (pa.ArrowException, OSError) as exc:
            raise StepInputError(step, f"input file {path} is corrupt or unreadable: {exc}") from exc
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        names = ", ".join(p.name for p in files)
        raise StepInputError(step, f"input files {names} have incompatible column types: {exc}") from exc
    return arrow_to_pandas(table)
