"""Extract: run a parameterized warehouse query and write its result as parquet files.

The SQL is written in the Athena/Trino dialect (``sql/*.sql``). Locally it is rendered for DuckDB and run against
the warehouse file; in AWS the same text is rendered for Athena and UNLOADed to parquet. The result is streamed
in Arrow record batches into files of at most ``rows_per_file`` rows, so memory does not grow with the result.

:func:`fetch` is the reusable data-fetch task ("DownloadItems(from_date, to_date)"): a parameterized query in,
a DataFrame out, for notebooks and ad-hoc work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.errors import QueryError, StepError, StepInputError, write_error
from steps.extract.sqlrender import render

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


@dataclass(frozen=True)
class ExtractResult:
    files: list[Path]
    rows: int
    columns: list[str]


def connect(warehouse: Path, *, step: str, timeout_s: float = 120.0) -> duckdb.DuckDBPyConnection:
    """Open the local warehouse read-only (many runs may read it at once), giving up after ``timeout_s``: a
    connect that waits on something holding the file (a stream left open in this process, a writer) is a named
    error, not a run that hangs while its heartbeat keeps the step locked."""
    import threading

    import duckdb

    if not warehouse.exists():
        raise StepInputError(step, f"warehouse file {warehouse} does not exist (run `stepml sample-data`?)")
    box: dict[str, Any] = {}

    def open_() -> None:
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
        except duckdb.Error as exc:
            box["error"] = _first_line(exc)
            return
        with lock:
            if box.get("abandoned"):
                con.close()  # the caller gave up on it
            else:
                box["con"] = con

    lock = threading.Lock()
    thread = threading.Thread(target=open_, name=f"stepml-connect-{step}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    with lock:
        if "con" in box:
            return box["con"]  # type: ignore[no-any-return]
        box["abandoned"] = True
    if "error" in box:
        raise StepInputError(step, f"cannot open warehouse {warehouse}: {box['error']}")
    raise StepInputError(
        step, f"cannot open warehouse {warehouse}: no connection after {timeout_s:g} s (is something holding it?)"
    )


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any], step: str) -> Any:
    import duckdb

    query = render(sql, params, dialect="duckdb", step=step)
    try:
        return con.execute(query)
    except duckdb.CatalogException as exc:
        raise QueryError(step, f"the warehouse has no such table or column: {_first_line(exc)}") from exc
    except duckdb.BinderException as exc:
        raise QueryError(step, f"unknown column or bad reference: {_first_line(exc)}") from exc
    except duckdb.ParserException as exc:
        raise QueryError(step, f"SQL syntax error: {_first_line(exc)}") from exc
    except duckdb.Error as exc:
        raise QueryError(step, f"query failed: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def extract(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any],
    out_dir: Path,
    *,
    rows_per_file: int = 500_000,
    min_rows: int = 1,
    step: str = "extract",
) -> ExtractResult:
    """Run ``sql`` and write ``part-00000.parquet``, ... into ``out_dir``; fail if fewer than ``min_rows`` rows."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = _execute(con, sql, params, step).fetch_record_batch(min(rows_per_file, 131_072))
    schema: pa.Schema = reader.schema
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    writer: pq.ParquetWriter | None = None
    path = out_dir
    in_file = rows = 0
    writing = False  # what failed, if something does: reading the query's stream or writing a file
    failure: StepError | None = None
    try:
        for batch in reader:
            offset = 0
            while offset < batch.num_rows:
                writing = True
                if writer is None or in_file >= rows_per_file:
                    if writer is not None:
                        writer.close()
                    path = out_dir / f"part-{len(files):05d}.parquet"
                    files.append(path)
                    writer = pq.ParquetWriter(path, schema)
                    in_file = 0
                take = min(batch.num_rows - offset, rows_per_file - in_file)
                writer.write_batch(batch.slice(offset, take))
                writing = False
                offset += take
                in_file += take
                rows += take
        writing = True
        if writer is not None:
            writer.close()
    except (duckdb.Error, OSError, pa.ArrowException) as exc:
        # a named error, built without the exception: nothing may keep the query's stream open (not the reader,
        # not a traceback a notebook keeps), or the next connect to the warehouse in this process waits forever
        failure = (
            write_error(step, path, exc)
            if writing
            else QueryError(step, f"the query failed after {rows} rows: {_first_line(exc)}")
        )
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        reader.close()
        del reader, writer
    if failure is not None:
        raise failure
    if rows < max(min_rows, 1):
        raise StepInputError(
            step, f"the query returned {rows} rows; expected at least {max(min_rows, 1)} (check the parameters)"
        )
    return ExtractResult(files=files, rows=rows, columns=list(schema.names))


def fetch(warehouse: Path | str, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run a Trino-dialect query with ``:name`` parameters on the local warehouse and return a DataFrame.

    ``sql`` is SQL text or the path of a ``.sql`` file.
    """
    text = Path(sql).read_text() if str(sql).endswith(".sql") else sql
    con = connect(Path(warehouse), step="fetch")
    try:
        df: pd.DataFrame = _execute(con, text, params or {}, "fetch").df()
        return df
    finally:
        con.close()
