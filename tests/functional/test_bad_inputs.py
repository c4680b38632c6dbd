"""Every bad input gets a named error, a non-zero exit, no manifest, and leaves earlier outputs untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from stepml.app import make_store
from stepml.core import layout
from stepml.core import manifest as mf
from stepml.errors import ParamError, QueryError, RunError, SpecError, StepInputError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from tests.conftest import stepml_cli


def runner_for(spec_path: Path) -> LocalRunner:
    pipeline = load_spec(spec_path)
    return LocalRunner(pipeline, make_store(pipeline.spec.artifact_root))


def committed(runner: LocalRunner) -> dict[str, dict[str, Any]]:
    """Every manifest under the artifact root, by (step, key)."""
    out = {}
    for step in runner.pipeline.spec.steps:
        for m in mf.list_manifests(runner.store, runner.pipeline.name, step):
            out[f"{step}/{m['key']}"] = m
    return out


def attempts(runner: LocalRunner, step: str, key: str) -> list[str]:
    prefix = layout.step_prefix(runner.pipeline.name, step, key)
    return sorted({k[len(prefix) + 1 :].split("/")[0] for k in runner.store.list(prefix)})


def assert_failed_cleanly(
    runner: LocalRunner, before: dict[str, dict[str, Any]], step: str, params: dict[str, Any]
) -> None:
    """The failing step has no manifest and no attempt files; every earlier output is unchanged and intact."""
    key = runner.plan(params).step(step).key
    assert mf.read_manifest(runner.store, runner.pipeline.name, step, key) is None
    assert attempts(runner, step, key) == []
    after = committed(runner)
    for k, m in before.items():
        assert after.get(k) == m, f"{k} changed"
        assert mf.damaged_files(runner.store, m) == []


def failure_of(exc: pytest.ExceptionInfo[RunError], step: str):
    [f] = [f for f in exc.value.failures if f.step == step]
    return f


def test_bad_spec_reports_every_problem_with_location_and_exit_2(make_pipeline):
    def mutate(raw):
        raw["steps"]["train"]["colour"] = "blue"  # unknown key
        raw["steps"]["score"]["partitions"] = "many"  # wrong type
        raw["steps"]["gate"]["needs"] = ["trian"]  # missing dependency
        raw["schedules"]["daily"]["cron"] = "0 25 * * *"  # bad cron

    spec = make_pipeline(mutate)
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    wheres = {i.where for i in exc.value.issues}
    assert {"steps.train.colour", "steps.score.partitions", "steps.gate.needs", "schedules.daily.cron"} <= wheres
    assert all(i.line for i in exc.value.issues)
    out = stepml_cli(spec, "run")
    assert out.returncode == 2
    assert "invalid pipeline spec" in out.stderr and "pipeline.yaml:" in out.stderr
    assert not (spec.parent / "artifacts").exists(), "nothing is created for a bad spec"


def test_cycle_is_reported(make_pipeline):
    spec = make_pipeline(lambda raw: raw["steps"]["extract_train"].update(needs=["check"]))
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert any("dependency cycle" in i.message for i in exc.value.issues)


def test_unknown_and_mistyped_parameters(make_pipeline):
    spec = make_pipeline()
    runner = runner_for(spec)
    with pytest.raises(ParamError) as exc:
        runner.run({"lookbak_days": "3", "as_of": "yesterday"})
    text = str(exc.value)
    assert "param lookbak_days: unknown parameter" in text
    assert "param as_of: expected a date like 2026-05-01" in text
    out = stepml_cli(spec, "run", "--param", "lookback_days=abc")
    assert out.returncode == 2
    assert "param lookback_days: expected an integer, got 'abc'" in out.stderr
    assert not (spec.parent / "artifacts").exists()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELEC invitation_id FROM invitations", "SQL syntax error"),
        ("SELECT invitation_id, accepted FROM invitationz WHERE sent_at < :as_of", "no such table"),
        ("SELECT invitation_id, no_such_column FROM invitations WHERE sent_at < :as_of", "no_such_column"),
    ],
    ids=["syntax", "missing-table", "missing-column"],
)
def test_sql_errors_name_the_step_and_keep_earlier_outputs(make_pipeline, sql, expected):
    spec = make_pipeline()
    runner = runner_for(spec)
    runner.run()
    before = committed(runner)
    # When the training query is broken
    (spec.parent / "sql" / "training_set.sql").write_text(sql)
    runner = runner_for(spec)
    with pytest.raises(RunError) as exc:
        runner.run()
    failure = failure_of(exc, "extract_train")
    assert isinstance(failure, QueryError)
    assert expected in failure.message
    assert_failed_cleanly(runner, before, "extract_train", {})


def test_empty_extract_is_a_named_error(make_pipeline):
    spec = make_pipeline()
    runner = runner_for(spec)
    runner.run()
    before = committed(runner)
    with pytest.raises(RunError) as exc:
        runner.run({"as_of": "2031-01-01"})
    failure = failure_of(exc, "extract_score")
    assert isinstance(failure, StepInputError)
    assert "the query returned 0 rows; expected at least 1" in failure.message
    assert_failed_cleanly(runner, before, "extract_score", {"as_of": "2031-01-01"})
    out = stepml_cli(spec, "run", "--param", "as_of=2031-01-01")
    assert out.returncode == 1
    assert "StepInputError" in out.stdout + out.stderr


def test_nan_in_target_is_a_named_error(make_pipeline):
    spec = make_pipeline()
    con = duckdb.connect(str(spec.parent / "warehouse.duckdb"))
    con.execute("UPDATE invitations SET accepted = NULL WHERE invitation_id % 40 = 0")
    con.close()
    runner = runner_for(spec)
    with pytest.raises(RunError) as exc:
        runner.run()
    failure = failure_of(exc, "train")
    assert isinstance(failure, StepInputError)
    assert "accepted" in failure.message
    assert_failed_cleanly(runner, committed(runner), "train", {})
    # the extracts before it are committed and reusable
    assert {k.split("/")[0] for k in committed(runner)} == {"extract_train", "extract_score"}


def test_corrupt_parquet_is_a_named_error_and_keeps_the_previous_model(make_pipeline):
    spec = make_pipeline()
    runner = runner_for(spec)
    runner.run()
    before = committed(runner)
    plan = runner.plan({})
    extract = mf.read_manifest(runner.store, plan.pipeline, "extract_train", plan.step("extract_train").key)
    assert extract is not None
    [data_key] = mf.output_files(extract)
    path = Path(runner.store.uri(data_key))
    size = path.stat().st_size
    path.write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))  # same size: the manifest cannot tell
    with pytest.raises(RunError) as exc:
        runner.run(rerun={"train"})
    failure = failure_of(exc, "train")
    assert isinstance(failure, StepInputError)
    assert path.name in failure.message
    train_key = plan.step("train").key
    previous = before[f"train/{train_key}"]
    assert mf.read_manifest(runner.store, plan.pipeline, "train", train_key) == previous
    assert mf.damaged_files(runner.store, previous) == []
