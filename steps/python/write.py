"""Writing what a step function returns as parquet: whole frames or an iterator of them, in bounded files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepml.errors import StepInputError


def is_table(value: Any) -> bool:
    import pyarrow as pa

    if isinstance(value, pa.Table | pa.RecordBatch):
        return True
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is installed with stepml
        return False
    return isinstance(value, pd.DataFrame)


def _arrow(value: Any, step: str, table: str) -> Any:
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        try:
            return pa.Table.from_pandas(value, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise StepInputError(step, f"table {table or '(main)'!r} cannot be written as parquet: {exc}") from exc
    raise StepInputError(
        step, f"table {table or '(main)'!r} is a {type(value).__name__}, not a DataFrame or Arrow table"
    )


class TableWriter:
    """``data/part-<partition>-<n>.parquet`` (the main table) or ``tables/<name>/...``; a new file every
    ``rows_per_file`` rows; files are written beside and renamed when complete."""

    def __init__(self, output: Path, *, partition: int, rows_per_file: int) -> None:
        self.output = output
        self.partition = partition
        self.rows_per_file = rows_per_file

    def write(self, name: str, value: Any, *, step: str) -> int:
        import pyarrow.parquet as pq

        folder = self.output / ("data" if not name else f"tables/{name}")
        folder.mkdir(parents=True, exist_ok=True)
        chunks = [value] if is_table(value) else value
        rows, index, in_file = 0, 0, 0
        writer: pq.ParquetWriter | None = None
        path = tmp = folder / "unused"
        try:
            for chunk in chunks:
                table = _arrow(chunk, step, name)
                offset = 0
                while offset < table.num_rows or (writer is None and table.num_rows == 0):
                    if writer is None or in_file >= self.rows_per_file:
                        if writer is not None:
                            writer.close()
                            tmp.rename(path)
                            index += 1
                        path = folder / f"part-{self.partition:05d}-{index:04d}.parquet"
                        tmp = path.with_name(f".{path.name}.tmp")
                        writer, in_file = pq.ParquetWriter(tmp, table.schema), 0
                    take = min(table.num_rows - offset, self.rows_per_file - in_file)
                    if take == 0:
                        break
                    writer.write_table(table.slice(offset, take))
                    offset, in_file, rows = offset + take, in_file + take, rows + take
        except BaseException:
            if writer is not None:
                writer.close()
                tmp.unlink(missing_ok=True)
            raise
        if writer is not None:
            writer.close()
            tmp.rename(path)
        return rows
