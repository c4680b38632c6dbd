"""End to end: the sample warehouse with injected drift and missing data -> check step -> metrics -> alarms."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import small_spec_dict, stepml_cli, write_spec

ROWS, SCORE_ROWS = 100_000, 40_000  # enough distinct jobs and candidates per period for stable job features
DRIFT_ALARM = {
    "name": "feature-drift",
    "metric": "DriftedColumnsShare",
    "comparison": "GreaterThanThreshold",
    "threshold": 0.0,
    "treat_missing_data": "notBreaching",
}


def _warehouse(
    path: Path, *, seed: int = 7, drift: dict[str, float] | None = None, score_rows: int = SCORE_ROWS
) -> None:
    from examples.job_matching.sampledata import SampleConfig, write_sample_warehouse

    write_sample_warehouse(path, SampleConfig(rows=ROWS, score_rows=score_rows, seed=seed, drift=drift or {}))


def _project(workdir: Path, warehouse: Path, *, score_rows: int = SCORE_ROWS) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, workdir / "warehouse.duckdb")
    raw = small_spec_dict(workdir, rows=ROWS, score_rows=score_rows)
    raw["steps"]["extract_score"]["rows_per_file"] = max(1, score_rows // 4)
    raw["steps"]["check"]["min_rows"] = 1
    raw["alarms"] = [a for a in raw["alarms"] if a["name"] != "row-count-floor"] + [DRIFT_ALARM]
    return write_spec(workdir, raw)


def _check_report(spec: Path) -> dict[str, Any]:
    (path,) = (spec.parent / "artifacts").glob("job-matching/steps/check/*/*/report.json")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("drifted")
    _warehouse(root / "wh.duckdb", drift={"skill_score": 0.5, "category": 0.2})
    spec = _project(root / "project", root / "wh.duckdb")
    return spec, stepml_cli(spec, "run")


@pytest.mark.slow
def test_injected_drift_is_flagged_exactly_and_alarms(drifted: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    spec, proc = drifted
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = _check_report(spec)
    dataset = report["drift"]["dataset"]
    # the two injected features, and the score distribution they move (model outputs count too)
    assert set(dataset["drifted"]) - {"prediction"} == {"skill_score", "category", "score"}
    assert dataset["verdict"] == "drift"
    assert report["drift"]["columns"]["score"]["role"] == "prediction"
    assert {"metric": "PredictionDrift", "value": 1.0} in [
        {k: m[k] for k in ("metric", "value")} for m in report["metrics"]
    ]
    # the run's summary shows the alarm
    assert "feature-drift ALARM" in proc.stdout
    assert "missing-data OK" in proc.stdout
    # metrics: valid EMF beside the report, one history object for the run
    emf = [
        json.loads(line) for line in next(spec.parent.glob("artifacts/**/metrics.emf.jsonl")).read_text().splitlines()
    ]
    assert any("DriftedColumnsShare" in d for d in emf)
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "stepml" for d in emf)
    history = list((spec.parent / "artifacts" / "job-matching" / "metrics").glob("*.json"))
    assert len(history) == 1
    alarms = stepml_cli(spec, "alarms")
    assert alarms.returncode == 0, alarms.stderr
    assert "ALARM" in alarms.stdout and "feature-drift" in alarms.stdout
    # a cached run evaluates the alarms again (JSON only) and still shows ALARM
    again = stepml_cli(spec, "run")
    assert again.returncode == 0 and "feature-drift ALARM" in again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_no_injected_drift_flags_nothing(tmp_path: Path, seed: int) -> None:
    _warehouse(tmp_path / "wh.duckdb", seed=seed)
    spec = _project(tmp_path / "project", tmp_path / "wh.duckdb")
    proc = stepml_cli(spec, "run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = _check_report(spec)
    flagged = {c: v["verdict"] for c, v in report["drift"]["columns"].items() if v["verdict"] != "no_drift"}
    assert flagged == {}
    assert report["drift"]["dataset"]["verdict"] == "no_drift"
    assert "feature-drift OK" in proc.stdout and "ALARM" not in proc.stdout


def test_fifty_row_batch_is_insufficient_data_and_does_not_alarm(
    make_pipeline: Callable[..., Path], tmp_path: Path
) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["params"]["score_days"]["default"] = 1  # about 50 invitations in one day of the small warehouse
        raw["steps"]["check"]["min_rows"] = 1
        raw["alarms"] = [a for a in raw["alarms"] if a["name"] != "row-count-floor"] + [DRIFT_ALARM]

    spec = make_pipeline(mutate)
    proc = stepml_cli(spec, "run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = _check_report(spec)
    assert report["rows"] < 100
    verdicts = {v["verdict"] for v in report["drift"]["columns"].values()}
    assert verdicts == {"insufficient_data"}
    assert report["drift"]["dataset"]["verdict"] == "insufficient_data"
    assert all(m["metric"] not in {"DriftScore", "DriftedColumnsShare"} for m in report["metrics"])
    assert "ALARM" not in proc.stdout
