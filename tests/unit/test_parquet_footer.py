"""The commit Lambda's row count: a parquet file's ``num_rows`` read from its footer with the standard library."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stepml.core import parquet_footer


def _parquet(table: pa.Table, **kw: object) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, **kw)
    return out.getvalue()


@pytest.mark.parametrize("rows", [0, 1, 63, 64, 1000, 123_457])
def test_num_rows_matches_pyarrow(rows: int) -> None:
    table = pa.table(
        {
            "i": pa.array(range(rows), pa.int64()),
            "s": pa.array([f"v{i}" for i in range(rows)]),
            "b": pa.array([i % 2 == 0 for i in range(rows)]),
            "f": pa.array([i / 3 for i in range(rows)]),
            "d": pa.array([None] * rows, pa.date32()),
        }
    )
    data = _parquet(table, row_group_size=10_000)
    assert parquet_footer.rows_from_tail(data) == rows == pq.ParquetFile(io.BytesIO(data)).metadata.num_rows


def test_a_wide_table_needs_the_whole_footer() -> None:
    table = pa.table({f"column_with_a_long_name_{i}": pa.array([i, i + 1]) for i in range(2000)})
    data = _parquet(table)
    length = parquet_footer.footer_length(data[-8:])
    assert length > 64 * 1024
    assert parquet_footer.rows_from_tail(data[-64 * 1024 :]) is None  # read more
    assert parquet_footer.rows_from_tail(data[-(length + 8) :]) == 2


def test_not_parquet_is_a_footer_error() -> None:
    with pytest.raises(parquet_footer.FooterError):
        parquet_footer.rows_from_tail(b"PAR1 partial")
    with pytest.raises(parquet_footer.FooterError):
        parquet_footer.rows_from_tail(b"\x00" * 4 + (10).to_bytes(4, "little") + b"PAR1" + b"x")
    with pytest.raises(parquet_footer.FooterError):
        parquet_footer.num_rows(b"\x15\x02")  # version only, then truncated
