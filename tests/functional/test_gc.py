"""``stepml gc``: outputs no recent run, registered model or held lock refers to go; nothing else does."""

from __future__ import annotations

import json
import time
from pathlib import Path

from stepml.core import layout
from stepml.core import manifest as mf
from stepml.gc import collect_garbage
from tests.conftest import stepml_cli
from tests.functional.test_bad_inputs import runner_for


def _age(runner, record, days: float) -> None:
    key = layout.run_key(record.pipeline, record.run_id)
    data = json.loads(runner.store.read_bytes(key))
    data["started_at"] -= days * 86_400
    runner.store.write_bytes(key, json.dumps(data).encode())


def test_gc_removes_only_what_nothing_refers_to(make_pipeline) -> None:
    spec = make_pipeline()
    runner = runner_for(spec)
    old = runner.run({"score_days": 10})  # an old run: its own extract_score/score/check outputs go
    new = runner.run({"score_days": 20})
    _age(runner, old, 60)
    old_only = {(s.name, s.key) for s in old.steps} - {(s.name, s.key) for s in new.steps}
    assert {n for n, _ in old_only} >= {"extract_score", "score"}
    steps_dir = Path(runner.store.uri(layout.join(runner.pipeline.name, "steps")))
    before = sorted(p for p in steps_dir.rglob("*"))

    dry = collect_garbage(runner.store, runner.pipeline.name, retention_days=30)
    assert set(dry.removed) == {runner.store.uri(layout.step_prefix(runner.pipeline.name, *o)) for o in old_only}
    assert dry.bytes > 0 and sorted(p for p in steps_dir.rglob("*")) == before  # dry: nothing deleted

    result = stepml_cli(spec, "gc", "--days", "30")
    assert result.returncode == 0, result.stderr
    assert f"would remove {len(old_only)} output(s)" in result.stdout and "--yes" in result.stdout
    result = stepml_cli(spec, "gc", "--days", "30", "--yes")
    assert result.returncode == 0 and f"removed {len(old_only)} output(s)" in result.stdout, result.stdout
    for step, key in old_only:
        assert not Path(runner.store.uri(layout.step_prefix(runner.pipeline.name, step, key))).exists()
    for s in new.steps:  # the recent run's chain is intact and still a cache hit
        m = mf.read_manifest(runner.store, runner.pipeline.name, s.name, s.key)
        assert m is not None and mf.damaged_files(runner.store, m) == []
    again = runner.run({"score_days": 20})
    assert {s.status for s in again.steps} == {"cached"}


def test_gc_keeps_registered_models_and_everything_of_a_recent_run(make_pipeline) -> None:
    spec = make_pipeline()
    runner = runner_for(spec)
    record = runner.run()
    report = collect_garbage(runner.store, runner.pipeline.name, retention_days=30)
    assert report.removed == {}
    _age(runner, record, 60)  # the run is old now: only the registered model's train output stays
    report = collect_garbage(runner.store, runner.pipeline.name, retention_days=30)
    kept = [why for why in report.kept.values()]
    assert any(why.startswith("model registry version") for why in kept)
    train = next(s for s in record.steps if s.name == "train")
    assert runner.store.uri(layout.step_prefix(runner.pipeline.name, "train", train.key)) in report.kept


def test_gc_removes_old_run_records_and_failure_logs_but_the_newest(make_pipeline) -> None:
    spec = make_pipeline()
    runner = runner_for(spec)
    first = runner.run({"score_days": 10})
    second = runner.run({"score_days": 20})
    _age(runner, first, 60)
    _age(runner, second, 50)
    old_failure = layout.join(
        layout.failure_prefix(runner.pipeline.name, "20200101T000000-abcdef", "score"), "logs/x.log"
    )
    runner.store.write_bytes(old_failure, b"an old failure's log")
    recent_failure = layout.join(
        layout.failure_prefix(runner.pipeline.name, layout.run_id(time.time()), "score"), "logs/x.log"
    )
    runner.store.write_bytes(recent_failure, b"a recent failure's log")

    report = collect_garbage(runner.store, runner.pipeline.name, retention_days=30, keep_runs=1)
    uri = runner.store.uri
    assert uri(layout.run_key(runner.pipeline.name, first.run_id)) in report.records  # old, not the newest
    assert uri(layout.run_key(runner.pipeline.name, second.run_id)) not in report.records  # the newest one stays
    assert uri(layout.join(runner.pipeline.name, "failures", "20200101T000000-abcdef")) in report.records
    assert not any("failures" in u and "2020" not in u for u in report.records)  # a recent failure's log stays
    assert runner.store.exists(layout.run_key(runner.pipeline.name, first.run_id))  # dry run

    collect_garbage(runner.store, runner.pipeline.name, retention_days=30, keep_runs=1, delete=True)
    assert not runner.store.exists(layout.run_key(runner.pipeline.name, first.run_id))
    assert runner.store.exists(layout.run_key(runner.pipeline.name, second.run_id))
    assert not runner.store.exists(old_failure) and runner.store.exists(recent_failure)
