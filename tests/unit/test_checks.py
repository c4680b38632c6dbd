"""Data-quality checks: streamed row/null counts, thresholds, and the check step's entry."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from monitoring.checks import CheckReport, run_checks
from monitoring.config import CheckConfig
from stepml.entry import Input, Invocation
from stepml.errors import StepInputError

ROOT = Path(__file__).resolve().parents[2]

# 10 rows: a has 0 nulls, b has 2 (one a NaN), c has 5, d is all null
KNOWN: dict[str, Any] = {
    "a": list(range(10)),
    "b": [1.0, None, 3.0, float("nan"), 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
    "c": ["x", None, "y", None, "z", None, "x", None, "y", None],
    "d": pa.nulls(10, pa.int64()),
}


def _write(path: Path, data: dict[str, Any], row_group_size: int | None = None) -> Path:
    table = pa.table(data)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def _values(report: CheckReport) -> dict[str, tuple[float, str]]:
    return {c.key: (c.value, c.status) for c in report.checks}


def _walk_finite(obj: Any) -> None:
    if isinstance(obj, dict):
        for v in obj.values():
            _walk_finite(v)
    elif isinstance(obj, list):
        for v in obj:
            _walk_finite(v)
    elif isinstance(obj, float):
        assert math.isfinite(obj)


def test_null_fraction_per_column_is_exact(tmp_path: Path) -> None:
    f = _write(tmp_path / "known.parquet", KNOWN)
    report = run_checks([f], CheckConfig())
    values = _values(report)
    assert report.rows == 10
    assert values["row_count"] == (10, "pass")
    assert values["null_fraction:a"] == (0.0, "pass")
    assert values["null_fraction:b"] == (0.2, "fail")  # NaN counts as null
    assert values["null_fraction:c"] == (0.5, "fail")
    assert values["null_fraction:d"] == (1.0, "fail")
    worst = next(c for c in report.checks if c.name == "max_null_fraction")
    assert (worst.column, worst.value, worst.threshold, worst.status) == ("d", 1.0, 0.1, "fail")
    assert all(c.sample_size == 10 for c in report.checks if c.name != "nonfinite_fraction")
    # nonfinite_fraction is judged on the non-null values of the floating-point columns
    assert {c.column: c.sample_size for c in report.checks if c.name == "nonfinite_fraction"} == {"b": 8}
    data = report.to_dict()
    assert data["schema"] == "stepml.checks/2"
    assert data["status"] == "fail"
    assert data["summary"]["failed"] == [
        "null_fraction:b",
        "null_fraction:c",
        "null_fraction:d",
        "max_null_fraction",
        "all_null:d",  # a column with no value at all fails whatever its null threshold
    ]
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_per_column_overrides(tmp_path: Path) -> None:
    f = _write(tmp_path / "known.parquet", KNOWN)
    config = CheckConfig.model_validate(
        {
            "max_null_fraction": 0.25,
            "columns": {"c": {"max_null_fraction": 0.5}, "d": {"max_null_fraction": 1.0}, "a": {}},
        }
    )
    report = run_checks([f], config)
    thresholds = {c.key: c.threshold for c in report.checks}
    assert thresholds["null_fraction:a"] == 0.25  # empty override -> default
    assert thresholds["null_fraction:c"] == 0.5
    assert thresholds["null_fraction:d"] == 1.0
    # an all-null column fails its all_null check even where its null threshold allows it
    assert [c.key for c in report.failed] == ["all_null:d"], report.describe_failures()
    worst = next(c for c in report.checks if c.name == "max_null_fraction")
    assert (worst.column, worst.value) == ("b", 0.2)  # overridden c, d are judged by their own checks

    strict = CheckConfig.model_validate({"max_null_fraction": 0.25, "columns": {"c": {"max_null_fraction": 0.4}}})
    failed = [c.key for c in run_checks([f], strict).failed]
    assert failed == ["null_fraction:c", "null_fraction:d", "max_null_fraction", "all_null:d"]


@pytest.mark.parametrize(("min_rows", "status"), [(0, "pass"), (10, "pass"), (11, "fail")])
def test_row_count_threshold(tmp_path: Path, min_rows: int, status: str) -> None:
    f = _write(tmp_path / "known.parquet", {"a": KNOWN["a"]})
    report = run_checks([f], CheckConfig(min_rows=min_rows))
    row_count = report.checks[0]
    assert (row_count.name, row_count.value, row_count.threshold, row_count.comparison) == (
        "row_count",
        10,
        min_rows,
        ">=",
    )
    assert row_count.status == status == report.status


def test_streaming_many_files_small_batches_equals_one_pass(tmp_path: Path) -> None:
    n = 1000
    data: dict[str, list[Any]] = {
        "i": [None if k % 7 == 0 else k for k in range(n)],
        "f": [float("nan") if k % 11 == 0 else (None if k % 13 == 0 else k / 3) for k in range(n)],
        "s": [None if k % 3 == 0 else str(k % 5) for k in range(n)],
    }
    whole = _write(tmp_path / "whole.parquet", data)
    parts = []
    for p, (lo, hi) in enumerate([(0, 1), (1, 250), (250, 250), (250, 999), (999, 1000)]):
        parts.append(_write(tmp_path / f"part-{p}.parquet", {k: v[lo:hi] for k, v in data.items()}, 64))
    config = CheckConfig(max_null_fraction=0.3)
    one = run_checks([whole], config, batch_size=1_000_000)
    many = run_checks(parts, config, batch_size=7)
    assert many.rows == one.rows == n
    assert many.checks == one.checks
    assert [i.rows for i in many.inputs] == [1, 249, 0, 749, 1]


def test_features_and_predictions_are_column_groups(tmp_path: Path) -> None:
    feats = [
        _write(tmp_path / "f0.parquet", {"id": [1, 2, 3], "x": [1.0, None, 3.0]}),
        _write(tmp_path / "f1.parquet", {"id": [4, 5], "x": [4.0, 5.0]}),
    ]
    preds = [_write(tmp_path / "p.parquet", {"id": [1, 2, 3, 4, 5], "prediction": [0.1, 0.2, None, None, 0.5]})]
    report = run_checks([*feats, *preds], CheckConfig(max_null_fraction=0.5))
    assert report.rows == 5
    values = {c.key: (c.value, c.sample_size) for c in report.checks}
    assert values["null_fraction:x"] == (0.2, 5)
    assert values["null_fraction:prediction"] == (0.4, 5)
    assert values["null_fraction:id"] == (0.0, 10)


def test_empty_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "empty.parquet", {"a": pa.array([], pa.int64()), "b": pa.array([], pa.float64())})
    report = run_checks([f], CheckConfig())
    data = report.to_dict()
    _walk_finite(data)
    assert data["rows"] == 0
    assert data["status"] == "fail"
    assert data["summary"]["failed"] == ["row_count"]
    assert {c["column"]: c["value"] for c in data["checks"] if c["name"] == "null_fraction"} == {
        "a": 0.0,
        "b": 0.0,
    }
    assert run_checks([f], CheckConfig(min_rows=0)).status == "pass"


def test_unknown_column_in_config(tmp_path: Path) -> None:
    f = _write(tmp_path / "known.parquet", KNOWN)
    config = CheckConfig.model_validate({"columns": {"nope": {"max_null_fraction": 0.5}}})
    with pytest.raises(StepInputError, match=r"'nope'.*available columns: a, b, c, d") as info:
        run_checks([f], config, step="quality")
    assert info.value.step == "quality"


@pytest.mark.parametrize("content", [b"not a parquet file at all", b""])
def test_corrupt_or_missing_input(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(content)
    with pytest.raises(StepInputError, match=r"bad\.parquet"):
        run_checks([bad], CheckConfig())
    with pytest.raises(StepInputError, match=r"missing\.parquet"):
        run_checks([tmp_path / "missing.parquet"], CheckConfig())


@pytest.mark.parametrize(
    "config",
    [
        {"min_rows": -1},
        {"max_null_fraction": 1.5},
        {"max_null_fraction": float("nan")},
        {"columns": {"a": {"max_null_fraction": -0.1}}},
        {"columns": {"a": {"unknown": 1}}},
        {"typo": True},
    ],
)
def test_config_validation(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CheckConfig.model_validate(config)


# ---------------------------------------------------------------------------------------------- entrypoint


def _run_step(
    tmp_path: Path, files: list[Path], config: Any = None, *, step: str = "check"
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The check entry as the runner and the task adapter run it: ``python -m stepml.entry <invocation>``."""
    out = tmp_path / "out"
    inv = Invocation(
        step=step,
        type="check",
        entry="steps.check.entry:run",
        pipeline="p",
        run_id="r",
        params={},
        param_types={},
        config={"check": {} if config is None else config},
        inputs={"extract": Input(kinds=("table",), tables={"": [str(f) for f in files]})},
        output_dir=str(out),
        scratch_dir=str(tmp_path / "scratch"),
    )
    path = inv.write(tmp_path / "invocation.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPML_")}
    proc = subprocess.run(
        [sys.executable, "-m", "stepml.entry", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    return proc, out


def test_entrypoint_writes_report_and_its_result(tmp_path: Path) -> None:
    f = _write(tmp_path / "known.parquet", KNOWN)
    config = {"max_null_fraction": 0.5, "columns": {"d": {"max_null_fraction": 1.0}}}
    proc, out = _run_step(tmp_path, [f], config)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "fail" and report["summary"]["failed"] == ["all_null:d"] and report["rows"] == 10
    result = json.loads((out / "_results" / "result.json").read_text())
    assert result["rows"] == 10 and result["summary"]["status"] == "fail"
    assert result["summary"]["failed"] == ["all_null:d"]
    assert not (out / "_results" / "failure.json").exists()
    assert not list(out.glob("*.tmp"))


def test_failed_checks_still_exit_0(tmp_path: Path) -> None:
    f = _write(tmp_path / "known.parquet", KNOWN)
    proc, out = _run_step(tmp_path, [f], step="quality")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "report.json").read_text())["summary"]["failed"]
    assert "'quality'" in proc.stdout


def test_entrypoint_fail_run(tmp_path: Path) -> None:
    f = _write(tmp_path / "known.parquet", KNOWN)
    proc, out = _run_step(tmp_path, [f], {"fail_run": True}, step="quality")
    assert proc.returncode == 2, proc.stderr
    data = json.loads((out / "_results" / "failure.json").read_text())
    assert data["error"] == "DataQualityError"
    assert data["step"] == "quality"
    assert "null_fraction:c" in data["message"]
    assert json.loads((out / "report.json").read_text())["status"] == "fail"  # the report is written before failing


@pytest.mark.parametrize(
    ("make_files", "config", "needle"),
    [
        (lambda d: [d / "garbage.parquet"], None, "garbage.parquet"),
        (lambda d: [d / "absent.parquet"], None, "absent.parquet"),
        (lambda d: [d / "ok.parquet"], {"columns": {"zz": {}}}, "'zz'"),
        (lambda d: [d / "ok.parquet"], {"min_rows": -3}, "min_rows"),
        (lambda d: [], None, "no files to check"),
    ],
    ids=["corrupt", "missing", "unknown-column", "bad-config", "no-input"],
)
def test_entrypoint_bad_input(tmp_path: Path, make_files: Any, config: Any, needle: str) -> None:
    (tmp_path / "garbage.parquet").write_bytes(os.urandom(256))
    _write(tmp_path / "ok.parquet", {"a": [1, 2]})
    proc, out = _run_step(tmp_path, make_files(tmp_path), config)
    assert proc.returncode == 2, proc.stderr
    data = json.loads((out / "_results" / "failure.json").read_text())
    assert data["error"] == "StepInputError"
    assert needle in data["message"]
    assert needle in proc.stderr
    assert not (out / "report.json").exists()


def test_check_path_does_not_import_pandas() -> None:
    code = "import sys, steps.check.entry; print(sorted({'pandas', 'sklearn'} & set(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    assert proc.stdout.strip() == "[]"
