"""``stepml report``: a static HTML page for a run, opened in headless Chromium (Debian's ``chromium``)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import stepml_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def drifted_run(make_pipeline: Callable[..., Path], tmp_path: Path) -> Path:
    from examples.job_matching.sampledata import SampleConfig, write_sample_warehouse

    workdir = tmp_path / "project"
    workdir.mkdir()
    write_sample_warehouse(
        workdir / "warehouse.duckdb", SampleConfig(rows=4000, score_rows=2000, seed=7, drift={"skill_score": 1.0})
    )

    def mutate(raw: dict[str, Any]) -> None:
        raw["alarms"].append(
            {
                "name": "feature-drift",
                "metric": "DriftedColumnsShare",
                "comparison": "GreaterThanThreshold",
                "threshold": 0.0,
                "treat_missing_data": "notBreaching",
            }
        )

    spec = make_pipeline(mutate, workdir=workdir)
    proc = stepml_cli(spec, "run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return spec


@pytest.mark.slow  # a pipeline run, evidently's page and two Chromium starts: about 25 s
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_opens_in_chromium_and_shows_the_run(drifted_run: Path, tmp_path: Path) -> None:
    spec = drifted_run
    out = tmp_path / "site" / "report.html"
    proc = stepml_cli(spec, "report", "--out", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    evidently_page = out.with_name("report.evidently.html")
    assert evidently_page.stat().st_size > 100_000

    dom = _chromium(out, tmp_path / "chrome-profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    text = html.unescape(dom.stdout)
    # the step tree with timings and cache hits
    steps = re.findall(r"<tr><td>(extract_train|extract_score|train|gate|score|check)</td>", text)
    assert steps == ["extract_train", "extract_score", "train", "gate", "score", "check"]
    assert 'id="run-status" class="succeeded"' in text
    # drift per feature with a reference-vs-current plot each, the injected column flagged
    assert re.search(r'data-column="skill_score"><td>skill_score</td><td class="drift">drift</td>', text)
    assert 'id="dataset-drift"' in text and "skill_score" in re.search(r'id="drifted-columns">([^<]*)<', text)[1]  # type: ignore[index]
    plots = re.findall(r'data-plot="([^"]+)"><h3>.*?<svg', text)
    assert "skill_score" in plots and "prediction" in plots and "score" in plots and len(plots) == 17
    # alarm states and check results
    assert re.search(r'data-alarm="feature-drift"><td>feature-drift</td><td class="ALARM">ALARM</td>', text)
    assert 'id="checks"' in text and "expect_column_values_to_not_be_null" in text
    # the link to evidently's page resolves
    link = re.search(r'id="evidently-link" href="([^"]+)"', text)
    assert link is not None and (out.parent / link[1]) == evidently_page

    shot = tmp_path / "report.png"
    png = _chromium(out, tmp_path / "chrome-profile-2", f"--screenshot={shot}", "--window-size=1280,2000")
    assert png.returncode == 0, png.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
