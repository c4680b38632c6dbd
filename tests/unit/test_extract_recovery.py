"""An extract that fails part-way leaves nothing behind that blocks the next one in the same process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from stepml.errors import QueryError, StepOutputError
from steps.extract.query import connect, extract

BAD = "select i, cast(s as integer) as n from t"  # fails at row 1,500,000: after files were written


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create table t as select i, case when i = 1500000 then 'x' else cast(i as varchar) end as s "
        "from range(2000000) r(i)"
    )
    con.close()
    return path


def _extract(warehouse: Path, sql: str, out: Path):
    con = connect(warehouse, step="e")
    try:
        return extract(con, sql, {}, out, rows_per_file=100_000, step="e")
    finally:
        con.close()


def test_a_failure_mid_stream_is_a_named_query_error(warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError) as info:
        _extract(warehouse, BAD, tmp_path / "o")
    assert info.value.step == "e" and "Conversion Error" in info.value.message


def test_a_second_extract_after_a_failed_one_completes(warehouse: Path, tmp_path: Path) -> None:
    """The failure is kept alive (as a notebook keeps sys.last_value); the next connect must not spin."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from tests.unit.test_extract_recovery import _extract
        kept = []
        try:
            _extract(Path({str(warehouse)!r}), {BAD!r}, Path({str(tmp_path / "o1")!r}))
        except Exception as exc:
            kept.append(exc)
        r = _extract(Path({str(warehouse)!r}), "select i from t limit 10", Path({str(tmp_path / "o2")!r}))
        print("rows", r.rows)
    """)
    root = Path(__file__).resolve().parents[2]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the second extract hung in the same process")
    assert proc.returncode == 0, proc.stderr
    assert "rows 10" in proc.stdout


def test_a_full_disk_is_a_write_error_naming_the_file(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import pyarrow.parquet as pq

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", full)
    with pytest.raises(StepOutputError) as info:
        _extract(warehouse, "select i from t", tmp_path / "o")
    assert "part-00000.parquet" in info.value.message and "disk is full" in info.value.message


def test_a_warehouse_that_cannot_be_opened_in_time_is_a_named_error(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from stepml.errors import StepInputError

    real = duckdb.connect

    def spinning(*a, **k):
        time.sleep(3)
        return real(*a, **k)

    monkeypatch.setattr(duckdb, "connect", spinning)
    started = time.monotonic()
    with pytest.raises(StepInputError) as info:
        connect(warehouse, step="e", timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    assert str(warehouse) in info.value.message and "0.5 s" in info.value.message
