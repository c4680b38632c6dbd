"""Upgrades lose nothing: outputs and run records written by stepml 0.1 (schemas ``stepml.manifest/1`` and
``stepml.run/1``) are still read - by ``stepml status`` and ``stepml.load`` - after the step types became plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import stepml
from stepml.core import layout
from stepml.spec import load_spec
from tests.conftest import stepml_cli

OLD_RUN = "20260501T030000-0a1b2c"
OLD_KEY = "0123456789abcdef0123"


def write_old_store(root: Path, pipeline: str) -> pd.DataFrame:
    """What stepml 0.1 wrote for one extract of one run (field for field, as its runner did)."""
    frame = pd.DataFrame({"invitation_id": [1, 2, 3], "region": ["tokyo", "osaka", None]})
    prefix = layout.join(layout.step_prefix(pipeline, "extract_score", OLD_KEY), "20260501T030000-0a1b2c")
    (root / prefix / "data").mkdir(parents=True)
    frame.to_parquet(root / prefix / "data" / "part-00000.parquet", index=False)
    size = (root / prefix / "data" / "part-00000.parquet").stat().st_size
    manifest = {
        "schema": "stepml.manifest/1",
        "pipeline": pipeline,
        "step": "extract_score",
        "type": "extract",
        "key": OLD_KEY,
        "components": {
            "step": "extract_score",
            "type": "extract",
            "params": {},
            "config": {},
            "code": "c",
            "sql": "s",
            "upstream": {},
        },
        "params": {},
        "parents": {},
        "code_digest": "c",
        "prefix": prefix,
        "files": [{"path": "data/part-00000.parquet", "size": size, "role": "data"}],
        "rows": 3,
        "summary": {"columns": ["invitation_id", "region"], "files": 1},
        "detail": "3 rows in 1 file(s)",
        "run_id": OLD_RUN,
        "started_at": 1777604400.0,
        "finished_at": 1777604401.0,
        "duration_s": 1.0,
        "versions": {"stepml": "0.1.0"},
    }
    (root / layout.manifest_key(pipeline, "extract_score", OLD_KEY)).write_text(json.dumps(manifest))
    record = {
        "schema": "stepml.run/1",
        "run_id": OLD_RUN,
        "pipeline": pipeline,
        "params": {"score_days": 30},
        "root": str(root),
        "started_at": 1777604400.0,
        "finished_at": 1777604402.0,
        "status": "succeeded",
        "steps": [
            {"name": "extract_score", "type": "extract", "key": OLD_KEY, "status": "ran", "duration_s": 1.0,
             "waited_s": 0.0, "output": str(root / prefix), "rows": 3, "detail": "3 rows in 1 file(s)",
             "error": None, "error_type": None},
        ],
        "execution_arn": None,
    }  # fmt: skip
    (root / layout.run_key(pipeline, OLD_RUN)).parent.mkdir(parents=True)
    (root / layout.run_key(pipeline, OLD_RUN)).write_text(json.dumps(record))
    return frame


def test_outputs_and_runs_of_the_previous_version_are_still_read(make_pipeline) -> None:
    spec = make_pipeline()
    pipeline = load_spec(spec)
    root = Path(pipeline.spec.artifact_root)
    frame = write_old_store(root, pipeline.name)
    # the notebook API reads the old run's output
    pd.testing.assert_frame_equal(stepml.load("extract_score", run=OLD_RUN, spec=spec), frame)
    assert [r["run_id"] for r in stepml.runs(spec=spec)] == [OLD_RUN]
    # and the command line shows the old run's tree
    shown = stepml_cli(spec, "status", "--run", OLD_RUN)
    assert shown.returncode == 0, shown.stderr
    assert "extract_score" in shown.stdout and "3 rows in 1 file(s)" in shown.stdout
