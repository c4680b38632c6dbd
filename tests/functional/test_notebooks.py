"""The notebooks run top to bottom against a small pipeline, using only the public API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import nbformat
import pytest
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def _execute(name: str, spec: Path) -> Any:
    """Run ``notebooks/<name>`` in the spec's directory (``STEPML_SPEC`` must point at the spec)."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(spec.parent)}}).execute()
    return nb


def _text(nb: Any) -> str:
    """Everything the code cells printed."""
    return "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "text" in o
    )


def _errors(nb: Any) -> list[Any]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]


def _cell(nb: Any, cell_id: str) -> Any:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _table(cell: Any) -> dict[str, list[str]]:
    """The DataFrame a cell displayed, from its HTML: index label -> cell texts."""
    html = next(o["data"]["text/html"] for o in cell.outputs if o.output_type == "execute_result")
    body = html.split("<tbody>", 1)[1]
    return {
        m.group(1): re.findall(r"<td>([^<]*)</td>", m.group(2))
        for m in re.finditer(r"<tr>\s*<th>([^<]*)</th>(.*?)</tr>", body, re.S)
    }


@pytest.mark.slow
def test_exploration_notebook_executes(make_pipeline, monkeypatch):
    spec = make_pipeline()
    monkeypatch.setenv("STEPML_SPEC", str(spec))
    nb = _execute("exploration.ipynb", spec)
    outputs = _text(nb)
    assert "acceptance rate" in outputs
    assert "invitations scored by model v1" in outputs
    assert _errors(nb) == []


@pytest.mark.slow
def test_monitoring_notebook_inspects_runs(make_pipeline, monkeypatch, tmp_path):
    """The monitoring notebook makes two runs, loads the first by id and shows what its check found: the
    sample warehouse's scoring period has ``skill_score`` 20% missing and ``last_active_days`` shifted by 1 std.
    """
    from examples.job_matching.sampledata import SampleConfig, write_sample_warehouse

    workdir = tmp_path / "project"
    workdir.mkdir()
    faults = SampleConfig(
        rows=4000, score_rows=2000, seed=7, missing={"skill_score": 0.2}, drift={"last_active_days": 1.0}
    )
    write_sample_warehouse(workdir / "warehouse.duckdb", faults)
    spec = make_pipeline(workdir=workdir)
    monkeypatch.setenv("STEPML_SPEC", str(spec))
    monkeypatch.delenv("STEPML_ROOT", raising=False)
    monkeypatch.delenv("STEPML_RUN", raising=False)

    nb = _execute("monitoring.ipynb", spec)
    assert _errors(nb) == []
    text = _text(nb)

    # two runs were recorded: a month of scores, then its first week; the first was loaded by its id
    runs = sorted(p.stem for p in (spec.parent / "artifacts").glob("*/runs/*.json"))
    assert len(runs) == 2
    with duckdb.connect(str(spec.parent / "warehouse.duckdb"), read_only=True) as con:
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE sent_at < TIMESTAMP '2026-05-31'), "
            "count(*) FILTER (WHERE sent_at < TIMESTAMP '2026-05-08') "
            "FROM invitations WHERE sent_at >= TIMESTAMP '2026-05-01'"
        ).fetchone()
    assert counts is not None
    month, week = counts
    assert month > week > 0
    assert f"made run {runs[0]} ({month:,} rows) and run {runs[1]} ({week:,} rows)" in text
    assert re.search(rf"^run {runs[0]}: check FAIL on {month:,} rows, \d+ of \d+ checks failed$", text, re.M)
    listed = _table(_cell(nb, "runs"))  # stepml.runs(): both, oldest first, each succeeded
    assert [row[:2] for row in listed.values()] == [[runs[0], "succeeded"], [runs[1], "succeeded"]]
    assert re.search(rf"^latest run {runs[1]}: check FAIL on {week:,} rows", text, re.M)

    # row count and missing data: exactly the injected column is over its threshold
    assert f"rows: {month:,} >= 100 -> pass" in text
    assert "columns over their missing-data threshold: ['skill_score']" in text
    nulls = _table(_cell(nb, "missing-data"))
    assert nulls["skill_score"][2] == "fail"
    assert 0.15 < float(nulls["skill_score"][0]) < 0.25
    assert nulls["desired_hourly_rate"][1:] == ["0.10", "pass"]  # the spec's per-column override

    # drift: one row per monitored feature plus the model outputs (label, score), and the dataset verdict
    # (which counts the outputs too) agrees with them
    features = yaml.safe_load(spec.read_text())["model"]["features"]
    assert f"{len(features) + 2} columns tested: {len(features)} features and 2 model outputs" in text
    drift = _table(_cell(nb, "drift-table"))
    assert sorted(drift) == sorted([*features, "prediction", "score"])
    assert drift["last_active_days"][-1] == "True"
    assert float(drift["last_active_days"][7]) > 1.0  # normalized Wasserstein of a 1-std shift
    drifted = sorted(name for name, row in drift.items() if row[-1] == "True")
    line = re.search(r"^drifted: (.*)$", text, re.M)
    assert line is not None
    assert sorted(line.group(1).split(", ")) == drifted
    assert f"dataset drift: drift - {len(drifted)} of {len(features) + 2} columns drifted" in text
    assert "last_active_days: wasserstein" in text  # the feature furthest past its threshold

    # scores against training, and the two runs' metrics side by side
    assert f"{month:,} invitations scored by model v1" in text
    metrics = _table(_cell(nb, "metrics"))
    assert [float(v) for v in metrics["RowCount"]] == [month, week]
    assert float(metrics["MaxNullFraction"][0]) == pytest.approx(float(nulls["skill_score"][0]))
