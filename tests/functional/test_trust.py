"""What a run reads back from the store is checked before it is trusted: manifests, run records, the registry,
the digests of the files a step consumes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import stepml
from stepml.core import layout
from stepml.core import manifest as mf
from stepml.errors import RunError, StepInputError
from stepml.store.lock import Owner
from stepml.store.models import ModelRegistry
from tests.functional.test_bad_inputs import failure_of, runner_for


@pytest.fixture
def done(make_pipeline):
    """A pipeline that ran once: (spec path, runner, plan)."""
    spec = make_pipeline()
    runner = runner_for(spec)
    runner.run()
    return spec, runner, runner.plan({})


def _manifest_path(runner, plan, step: str) -> Path:
    return Path(runner.store.uri(layout.manifest_key(plan.pipeline, step, plan.step(step).key)))


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"schema": "stepml.manifest/2"}', b"not json"])
def test_a_manifest_of_the_wrong_shape_is_a_miss_with_a_warning_naming_it(done, body, caplog) -> None:
    _, runner, plan = done
    path = _manifest_path(runner, plan, "extract_train")
    path.write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="stepml"):
        record = runner.run()
    statuses = {s.name: s.status for s in record.steps}
    assert statuses["extract_train"] == "ran" and statuses["extract_score"] == "cached"
    assert any(str(path.name) in r.getMessage() and "extract_train" in r.getMessage() for r in caplog.records)
    assert mf.read_manifest(runner.store, plan.pipeline, "extract_train", plan.step("extract_train").key)


@pytest.mark.parametrize("prefix", ["VICTIM", "../../victim", "job-matching/steps/train"])
def test_a_manifest_pointing_outside_never_deletes_or_loads_from_there(done, tmp_path, prefix) -> None:
    _, runner, plan = done
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    path = _manifest_path(runner, plan, "train")
    data = json.loads(path.read_text())
    data["prefix"] = str(victim) if prefix == "VICTIM" else prefix
    path.write_text(json.dumps(data))
    runner.run(rerun={"train"})
    assert (victim / "keep.txt").read_text() == "precious"
    assert json.loads(path.read_text())["prefix"] != data["prefix"]


def test_a_run_record_of_the_wrong_shape_does_not_break_readers(done) -> None:
    spec, runner, plan = done
    runs = layout.runs_prefix(plan.pipeline)
    Path(runner.store.uri(layout.join(runs, "99999999T000000-zzzzzz.json"))).write_text("[]")
    Path(runner.store.uri(layout.join(runs, "99999999T000001-yyyyyy.json"))).write_text('{"schema": "stepml.run/2"}')
    listed = stepml.runs(spec=spec)
    assert [r["status"] for r in listed] == ["succeeded"]
    assert stepml.load("extract_train", spec=spec) is not None


def test_registry_entries_of_the_wrong_shape_or_outside_are_ignored(done) -> None:
    _, runner, plan = done
    reg = ModelRegistry(runner.store, plan.pipeline, Owner.current("test"))
    [version] = reg.versions()
    base = Path(runner.store.uri(layout.join("models", plan.pipeline)))
    (base / "versions" / "000002.json").write_text("[]")
    (base / "versions" / "000003.json").write_text(json.dumps({**version, "version": 3, "model_prefix": "/etc"}))
    assert [v["version"] for v in reg.versions()] == [version["version"]]
    (base / "champion.json").write_text('["x"]')
    assert reg.champion() is None


def test_a_corrupt_upstream_file_of_the_same_size_fails_its_digest(done) -> None:
    _, runner, plan = done
    extract = mf.read_manifest(runner.store, plan.pipeline, "extract_score", plan.step("extract_score").key)
    assert extract is not None and all(len(f.get("sha256", "")) == 64 for f in extract["files"])
    key = mf.output_files(extract)[0]
    path = Path(runner.store.uri(key))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte: same size, maybe even still readable parquet
    path.write_bytes(bytes(raw))
    with pytest.raises(RunError) as exc:
        runner.run(rerun={"score"})
    failure = failure_of(exc, "score")
    assert isinstance(failure, StepInputError)
    assert path.name in failure.message and "digest" in failure.message


def test_a_tampered_model_is_never_loaded(done) -> None:
    _, runner, plan = done
    reg = ModelRegistry(runner.store, plan.pipeline, Owner.current("test"))
    champion = reg.champion()
    assert champion is not None and champion.get("files")
    model = Path(runner.store.uri(layout.join(champion["model_prefix"], "estimator.joblib")))
    raw = bytearray(model.read_bytes())
    raw[-1] ^= 0xFF
    model.write_bytes(bytes(raw))
    with pytest.raises(RunError) as exc:
        runner.run(rerun={"score"})
    failure = failure_of(exc, "score")
    assert isinstance(failure, StepInputError) and "estimator.joblib" in failure.message and "digest" in failure.message


def test_a_run_leaves_no_scratch_folder_and_records_its_heartbeat(done) -> None:
    import os
    import tempfile

    from stepml.local.runner import load_run

    _, runner, plan = done
    record = load_run(runner.store, plan.pipeline)
    assert record is not None and record.heartbeat_at is not None and record.pid_started

    assert not list(Path(tempfile.gettempdir()).glob(f"stepml-run-{os.getpid()}-*"))
    assert not list(Path(tempfile.gettempdir()).glob("stepml-extract_train-*"))
