"""The main job end to end on a small sample warehouse: caching, reruns, parameters, status, explain, build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import stepml
from stepml.api import build
from stepml.app import make_store
from stepml.core import layout
from stepml.core import manifest as mf
from stepml.local.runner import LocalRunner, list_runs, load_run
from stepml.spec import load_spec
from steps.train.local import TrainedModel
from tests.conftest import stepml_cli

STEPS = ["extract_train", "extract_score", "train", "gate", "score", "check"]


def statuses(record) -> dict[str, str]:
    return {s.name: s.status for s in record.steps}


def runner_for(spec_path: Path) -> LocalRunner:
    pipeline = load_spec(spec_path)
    return LocalRunner(pipeline, make_store(pipeline.spec.artifact_root))


def test_cold_run_computes_every_step_and_commits_manifests(make_pipeline):
    # Given a fresh artifact root
    runner = runner_for(make_pipeline())
    # When the pipeline runs
    record = runner.run()
    # Then every step ran and has a manifest whose files exist with their recorded sizes
    assert statuses(record) == dict.fromkeys(STEPS, "ran")
    plan = runner.plan({})
    for step in plan.steps:
        m = mf.read_manifest(runner.store, plan.pipeline, step.name, step.key)
        assert m is not None, step.name
        assert m["components"] == step.components
        assert m["parents"] == {d: plan.step(d).key for d in step.needs}
        assert mf.damaged_files(runner.store, m) == []
        assert m["versions"]["python"]
    by_name = {s.name: s for s in record.steps}
    assert by_name["extract_score"].rows == by_name["score"].rows == by_name["check"].rows
    # predictions carry the model version and run id
    predictions = build("score", spec=runner.pipeline.path)
    assert set(predictions.columns) >= {"invitation_id", "prediction", "score", "model_version", "run_id"}
    assert (predictions["model_version"] == "v1").all()
    assert (predictions["run_id"] == record.run_id).all()
    assert len(predictions) == by_name["score"].rows


def test_second_run_is_fully_cached(make_pipeline):
    runner = runner_for(make_pipeline())
    first = runner.run()
    second = runner.run()
    assert statuses(second) == dict.fromkeys(STEPS, "cached")
    assert [s.key for s in first.steps] == [s.key for s in second.steps]
    assert second.duration_s < first.duration_s * 0.03 + 0.05


def test_param_change_reruns_only_affected_steps(make_pipeline):
    runner = runner_for(make_pipeline())
    runner.run()
    record = runner.run({"score_days": "20"})
    assert statuses(record) == {
        "extract_train": "cached",
        "extract_score": "ran",
        "train": "cached",
        "gate": "cached",
        "score": "ran",
        "check": "ran",
    }


def test_rerun_recomputes_step_and_downstream_and_replaces_output(make_pipeline):
    runner = runner_for(make_pipeline())
    first = runner.run()
    record = runner.run(rerun={"train"})
    assert statuses(record) == {
        "extract_train": "cached",
        "extract_score": "cached",
        "train": "ran",
        "gate": "ran",
        "score": "ran",
        "check": "ran",
    }
    old = {s.name: s.output for s in first.steps}
    new = {s.name: s.output for s in record.steps}
    assert old["train"] != new["train"]
    assert old["train"] and new["train"]
    assert not Path(old["train"]).exists(), "the replaced attempt is deleted after the new commit"
    assert Path(new["train"]).exists()


def test_cached_run_imports_no_heavy_libraries(make_pipeline):
    spec = make_pipeline()
    runner_for(spec).run()
    code = (
        "import sys\nfrom stepml.cli import main\n"
        "try:\n    main(['run', '--spec', sys.argv[1]])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'pyarrow', 'duckdb', 'great_expectations', 'evidently', 'sqlglot')"
        " if m in sys.modules]\nprint('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(spec)], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "6 cached" in out.stdout


def test_cli_run_status_explain(make_pipeline):
    spec = make_pipeline()
    first = stepml_cli(spec, "run")
    assert first.returncode == 0, first.stderr
    assert "run succeeded" in first.stdout and "6 ran" in first.stdout
    second = stepml_cli(spec, "run")
    assert "6 cached" in second.stdout
    status = stepml_cli(spec, "status")
    assert status.returncode == 0
    for step in STEPS:
        assert step in status.stdout
    assert "2 run(s) recorded" in status.stdout
    hit = stepml_cli(spec, "explain", "train")
    assert "HIT" in hit.stdout
    miss = stepml_cli(spec, "explain", "train", "--param", "lookback_days=90")
    assert "MISS" in miss.stdout
    assert "upstream key of extract_train" in miss.stdout
    miss_extract = stepml_cli(spec, "explain", "extract_train", "--param", "lookback_days=90")
    assert "parameter lookback_days: 180 -> 90" in miss_extract.stdout


def test_build_returns_python_objects_and_fills_the_cache(make_pipeline):
    spec = make_pipeline()
    frame = build("extract_train", spec=spec)
    assert "accepted" in frame.columns and len(frame) > 100
    model = build("train", spec=spec)
    assert isinstance(model, TrainedModel)
    assert model.metrics["metric"] == "roc_auc" and 0.5 < model.metrics["value"] <= 1.0
    proba = model.model.predict_proba(frame[model.meta["features"]].head(5))
    assert proba.shape == (5, 2)
    report = build("check", spec=spec)
    assert report["status"] in {"pass", "fail"} and report["rows"] > 0
    # build used and filled the cache: a full run now only computes nothing new for what build made
    record = runner_for(spec).run()
    assert statuses(record) == dict.fromkeys(STEPS, "cached")


def test_gate_rejection_keeps_champion_and_says_why(make_pipeline):
    spec = make_pipeline()
    runner_for(spec).run()
    # Given a champion, a new candidate that must beat it by an impossible margin
    spec2 = make_pipeline(lambda raw: raw["steps"]["gate"].update(min_improvement=0.5))
    record = runner_for(spec2).run({"lookback_days": "120"})
    gate = next(s for s in record.steps if s.name == "gate")
    assert gate.status == "ran"
    assert "kept champion v1" in gate.detail
    decision = build("gate", spec=spec2, lookback_days=120)
    assert decision["passed"] is False
    assert decision["model"]["version"] == 1 and decision["candidate"]["version"] == 2
    assert any("does not beat the champion" in r for r in decision["reasons"])
    predictions = build("score", spec=spec2, lookback_days=120)
    assert (predictions["model_version"] == "v1").all()


def test_orphan_attempts_are_removed_even_when_empty(make_pipeline):
    # Given attempt directories left by killed runs: one with a partial file, one killed right after its mkdir
    runner = runner_for(make_pipeline())
    key = runner.plan({}).step("train").key
    step_dir = Path(runner.store.uri(layout.step_prefix("job-matching", "train", key)))
    (step_dir / "20200101T000000-dead01").mkdir(parents=True)
    (step_dir / "20200101T000000-dead01" / "model.joblib").write_bytes(b"partial")
    (step_dir / "20200101T000000-dead02").mkdir()
    # When the step runs
    record = runner.run()
    # Then only the committed attempt and its manifest remain
    m = mf.read_manifest(runner.store, "job-matching", "train", key)
    assert m is not None and {s.name: s.status for s in record.steps}["train"] == "ran"
    assert sorted(p.name for p in step_dir.iterdir()) == sorted(
        [mf.MANIFEST, mf.MANIFEST_HEAD, m["prefix"].rsplit("/", 1)[-1]]
    )


def test_run_records_are_listed_and_loadable(make_pipeline):
    runner = runner_for(make_pipeline())
    a = runner.run()
    b = runner.run()
    assert list_runs(runner.store, "job-matching") == sorted([a.run_id, b.run_id])
    loaded = load_run(runner.store, "job-matching", a.run_id[:17])
    assert loaded is not None and loaded.run_id == a.run_id and loaded.status == "succeeded"
    data = json.loads(runner.store.read_bytes(layout.run_key("job-matching", b.run_id)))
    assert data["schema"] == "stepml.run/2"
    # and the notebook API lists them, oldest first, with each step's key and status
    listed = stepml.runs(store=runner.store, spec=runner.pipeline.base_dir / "pipeline.yaml")
    assert [r["run_id"] for r in listed] == sorted([a.run_id, b.run_id])
    assert [s["status"] for s in listed[-1]["steps"]] == ["cached"] * len(b.steps)
    newest = stepml.runs(store=runner.store, spec=runner.pipeline.base_dir / "pipeline.yaml", last=1)
    assert [r["run_id"] for r in newest] == [max(a.run_id, b.run_id)]


@pytest.mark.parametrize("task", ["regression"])
def test_other_table_target_and_task_run_without_code_changes(make_pipeline, task):
    # A new spec: regression of the desired hourly rate from a different query over the same warehouse
    def mutate(raw):
        raw["model"] = {
            "task": task,
            "target": "desired_hourly_rate",
            "id_columns": ["candidate_id"],
            "features": ["region", "years_experience", "skill_score", "lives_abroad"],
            "categorical": ["region"],
            "metric": "rmse",
            "hyperparameters": {"max_iter": 20},
        }
        raw["steps"] = {
            "candidates": {"type": "extract", "sql": "sql/candidates.sql"},
            "fit": {"type": "train", "needs": ["candidates"]},
            "gate": {"type": "gate", "needs": ["fit"], "min_value": 1000.0},
            "predict": {"type": "score", "needs": ["gate", "candidates"], "partitions": 2},
            "check": {"type": "check", "needs": ["predict"], "columns": {}},
        }
        raw["alarms"] = []

    spec = make_pipeline(mutate)
    (spec.parent / "sql" / "candidates.sql").write_text(
        "SELECT candidate_id, region, years_experience, skill_score, CAST(lives_abroad AS INTEGER) AS lives_abroad,\n"
        "       desired_hourly_rate\nFROM candidates\nWHERE signup_date < :as_of AND desired_hourly_rate IS NOT NULL\n"
    )
    record = runner_for(spec).run()
    assert statuses(record) == dict.fromkeys(["candidates", "fit", "gate", "predict", "check"], "ran")
    model = build("fit", spec=spec)
    assert model.meta["task"] == "regression" and model.metrics["metric"] == "rmse"
    predictions = build("predict", spec=spec)
    assert "candidate_id" in predictions.columns and predictions["prediction"].notna().all()


def test_fetch_is_a_reusable_parameterized_query(make_pipeline):
    import stepml

    spec = make_pipeline()
    month = stepml.fetch("sql/training_set.sql", spec=spec, as_of="2026-04-01", lookback_days=30)
    quarter = stepml.fetch("sql/training_set.sql", spec=spec, as_of="2026-04-01", lookback_days=90)
    assert 0 < len(month) < len(quarter)
    assert str(month["sent_at"].min()) >= "2026-03-02"
    ad_hoc = stepml.fetch(
        "SELECT count(*) AS n FROM candidates WHERE signup_date < :as_of", spec=spec, as_of="2026-01-01"
    )
    assert int(ad_hoc["n"].iloc[0]) > 0
