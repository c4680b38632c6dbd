"""User steps (``type: python``): the user's function runs as a step with every guarantee a built-in step has.

A small project of the user's own (package ``myproj``) beside a copy of the sample warehouse; its spec extracts
the scoring invitations and runs the user's functions on them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from stepml.app import make_store, read_output
from stepml.cloud.asl import compile_pipeline, named_states
from stepml.core import layout
from stepml.core.manifest import read_manifest
from stepml.errors import RunError, SpecError, StepExecutionError, StepInputError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from tests.cloud_harness.rig import failures
from tests.conftest import ROOT, stepml_cli

PACKAGE = {
    "__init__.py": "",
    "helpers.py": "def ratio(a, b):\n    return a / b.where(b != 0)\n",
    "features.py": (
        "import pandas as pd\n\nfrom myproj.helpers import ratio\n\n\n"
        "def add(raw: pd.DataFrame, *, factor: float = 1.0) -> pd.DataFrame:\n"
        "    return raw.assign(rate_ratio=factor * ratio(raw['desired_hourly_rate'], raw['hourly_rate_max']))\n"
    ),
    "summaries.py": (
        "import pandas as pd\nimport stepml\n\n\n"
        "def per_region(features, ctx, score_days):\n"
        "    ctx.log.info('summarising %d rows for %s days', len(features), score_days)\n"
        "    (ctx.output_dir).mkdir(parents=True, exist_ok=True)\n"
        "    (ctx.output_dir / 'note.txt').write_text(f'run {ctx.run_id}')\n"
        "    regions = features.groupby('region', dropna=False).size().rename('n').reset_index()\n"
        "    return stepml.Output(table=regions, tables={'remote': features[features['remote'] == 1]},\n"
        "                         metrics={'regions': float(len(regions))})\n"
    ),
    "parts.py": (
        "import os\n\n\ndef count(raw, ctx):\n"
        "    return raw[['invitation_id']].assign(partition=ctx.partition, pid=os.getpid())\n"
    ),
    "streamed.py": (
        "def first_ids(raw):\n"
        "    for batch in raw.to_batches(batch_size=300, columns=['invitation_id']):\n"
        "        yield batch.to_pandas()\n"
    ),
    "failing.py": "def explode(raw):\n    raise ValueError('row 42 has no region')\n",
    "secret.py": (
        "import os\n\n\ndef with_token(raw):\n"
        "    return raw[['invitation_id']].assign(token_length=len(os.environ['MYPROJ_TOKEN']))\n"
    ),
    "unrelated.py": "X = 1\n",
}


def user_project(tmp_path: Path, sample_warehouse: Path, steps: dict[str, Any]) -> Path:
    """A project folder: ``myproj/`` (the user's code), ``sql/``, the warehouse, and a spec with ``steps``."""
    project = tmp_path / "project"
    (project / "myproj").mkdir(parents=True, exist_ok=True)
    for name, text in PACKAGE.items():
        target = project / "myproj" / name
        if not target.exists():
            target.write_text(text)
    if not (project / "sql").exists():
        shutil.copytree(ROOT / "sql", project / "sql")
        shutil.copyfile(sample_warehouse, project / "warehouse.duckdb")
    spec = {
        "name": "user-steps",
        "artifact_root": str(project / "artifacts"),
        "warehouse": {"local": {"path": str(project / "warehouse.duckdb")}},
        "params": {
            "as_of": {"type": "date", "default": "2026-05-01"},
            "score_days": {"type": "int", "default": 30},
        },
        "steps": {"invitations": {"type": "extract", "sql": "sql/scoring_set.sql", "rows_per_file": 500}, **steps},
    }
    path = project / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


FEATURES = {"type": "python", "function": "myproj.features:add", "needs": ["invitations"]}
FEATURES_IN = {**FEATURES, "inputs": {"raw": "invitations"}, "config": {"factor": 2.0}}


def run(spec: Path, **kw: Any) -> Any:
    pipeline = load_spec(spec)
    return pipeline, LocalRunner(pipeline, make_store(pipeline.spec.artifact_root)).run(**kw)


def test_a_user_function_runs_as_a_step_and_its_table_is_committed(tmp_path, sample_warehouse) -> None:
    steps = {
        "features": FEATURES_IN,
        "summary": {
            "type": "python",
            "function": "myproj.summaries:per_region",
            "needs": ["features"],
            "params": ["score_days"],
        },
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    pipeline, record = run(spec)
    assert {s.name: s.status for s in record.steps} == {"invitations": "ran", "features": "ran", "summary": "ran"}
    store = make_store(pipeline.spec.artifact_root)
    plan = LocalRunner(pipeline, make_store(pipeline.spec.artifact_root)).plan({})
    features = read_manifest(store, pipeline.name, "features", plan.step("features").key)
    assert features is not None
    frame = read_output(pipeline, store, features)
    # the function got the extract as a DataFrame and its config as keyword arguments
    assert (frame["rate_ratio"] - 2.0 * frame["desired_hourly_rate"] / frame["hourly_rate_max"]).abs().max() < 1e-12
    assert features["rows"] == len(frame) == record.steps[0].rows
    assert features["summary"] == {
        "function": "myproj.features:add",
        "tables": {"": len(frame)},
        "metrics": {},
    }
    # a stepml.Output: a main table, a named table, a file, metrics; ctx and a declared run parameter given
    summary = read_manifest(store, pipeline.name, "summary", plan.step("summary").key)
    assert summary is not None
    out = read_output(pipeline, store, summary)
    assert set(out) == {"", "remote"} and out[""]["n"].sum() == len(frame)
    assert len(out["remote"]) == int((frame["remote"] == 1).sum())
    assert summary["summary"]["metrics"] == {"regions": float(len(out[""]))}
    assert (Path(store.uri(summary["prefix"])) / "files" / "note.txt").read_text() == f"run {record.run_id}"
    log = Path(store.uri(summary["prefix"])) / "logs" / "summary.log"
    assert "summarising" in log.read_text() and "for 30 days" in log.read_text()
    # a second run is all cache hits
    _, again = run(spec)
    assert {s.status for s in again.steps} == {"cached"}


def test_the_key_holds_the_users_code_and_what_it_imports(tmp_path, sample_warehouse) -> None:
    steps = {
        "features": FEATURES_IN,
        "parts": {"type": "python", "function": "myproj.parts:count", "needs": ["features"]},
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    package = spec.parent / "myproj"

    def keys() -> dict[str, str]:
        pipeline = load_spec(spec)
        return {s.name: s.key for s in LocalRunner(pipeline, make_store(pipeline.spec.artifact_root)).plan({}).steps}

    before = keys()
    files = load_spec(spec).code_digest("features").files(spec.parent)
    assert {"myproj/features.py", "myproj/helpers.py", "myproj/__init__.py"} <= set(files)
    assert "myproj/unrelated.py" not in files and "myproj/parts.py" not in files
    # editing an unrelated module changes nothing
    (package / "unrelated.py").write_text("X = 2\n")
    assert keys() == before
    # editing a module the function imports changes the step and what depends on it, not its upstream
    (package / "helpers.py").write_text(PACKAGE["helpers.py"] + "# reviewed\n")
    after = keys()
    assert {n for n in after if after[n] != before[n]} == {"features", "parts"}
    # explain names the files
    result = stepml_cli(spec, "explain", "features")
    assert result.returncode == 0, result.stderr
    assert "myproj/helpers.py" in result.stdout and "myproj/features.py" in result.stdout


def test_a_failing_user_function_is_named_and_its_traceback_kept(tmp_path, sample_warehouse) -> None:
    steps = {
        "boom": {
            "type": "python",
            "function": "myproj.failing:explode",
            "needs": ["invitations"],
            "inputs": {"raw": "invitations"},
        }
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    with pytest.raises(RunError) as info:
        run(spec)
    (error,) = info.value.failures
    assert isinstance(error, StepExecutionError) and error.step == "boom"
    assert "myproj.failing:explode raised ValueError: row 42 has no region" in error.message
    kept = error.message.rsplit("[logs: ", 1)[1].rstrip("]")
    log = Path(kept) / "boom.log"
    assert "Traceback" in log.read_text() and 'myproj/failing.py", line 2, in explode' in log.read_text()
    # nothing was committed for the step; the extract it read stays
    pipeline = load_spec(spec)
    store = make_store(pipeline.spec.artifact_root)
    plan = LocalRunner(pipeline, make_store(pipeline.spec.artifact_root)).plan({})
    assert read_manifest(store, pipeline.name, "boom", plan.step("boom").key) is None
    assert not list(Path(store.uri(layout.step_prefix(pipeline.name, "boom", plan.step("boom").key))).glob("*"))
    assert read_manifest(store, pipeline.name, "invitations", plan.step("invitations").key) is not None
    # and the command line says the same, with exit code 1
    result = stepml_cli(spec, "run")
    assert result.returncode == 1 and "myproj.failing:explode raised ValueError" in result.stderr


def test_a_partitioned_user_step_runs_once_per_partition(tmp_path, sample_warehouse) -> None:
    steps = {
        "parts": {
            "type": "python",
            "function": "myproj.parts:count",
            "needs": ["invitations"],
            "inputs": {"raw": "invitations"},
            "partitions": 3,
            "partition_by": "invitations",
            "max_concurrency": 1,  # one at a time: each still in a process of its own
        }
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    pipeline, record = run(spec)
    store = make_store(pipeline.spec.artifact_root)
    manifest = read_manifest(store, pipeline.name, "parts", record.steps[1].key)
    assert manifest is not None
    frame = read_output(pipeline, store, manifest)
    extract = read_manifest(store, pipeline.name, "invitations", record.steps[0].key)
    assert extract is not None
    assert sorted(frame["invitation_id"]) == sorted(read_output(pipeline, store, extract)["invitation_id"])
    assert sorted(frame["partition"].unique()) == [0, 1, 2]
    # a user's function runs in a process of its own per partition (as an ECS task per partition in AWS)
    assert frame.groupby("partition")["pid"].nunique().tolist() == [1, 1, 1] and frame["pid"].nunique() == 3
    assert manifest["summary"]["tables"] == {"": len(frame)} and len(manifest["summary"]["partition_metrics"]) == 3
    assert json.loads((Path(store.uri(manifest["prefix"])) / "_partitions.json").read_text())[2]["index"] == 2


def test_a_streamed_input_is_a_dataset_and_an_iterator_is_written_as_it_comes(tmp_path, sample_warehouse) -> None:
    steps = {
        "ids": {
            "type": "python",
            "function": "myproj.streamed:first_ids",
            "needs": ["invitations"],
            "inputs": {"raw": "invitations"},
            "stream": ["raw"],
            "rows_per_file": 700,
        }
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    pipeline, record = run(spec)
    store = make_store(pipeline.spec.artifact_root)
    manifest = read_manifest(store, pipeline.name, "ids", record.steps[1].key)
    assert manifest is not None and manifest["rows"] == record.steps[0].rows
    data = [f["path"] for f in manifest["files"] if f["role"] == "data"]
    assert len(data) == -(-int(manifest["rows"]) // 700)  # files of at most rows_per_file rows


def test_secrets_come_from_the_environment_and_never_reach_the_record(tmp_path, sample_warehouse, monkeypatch) -> None:
    steps = {
        "tokenized": {
            "type": "python",
            "function": "myproj.secret:with_token",
            "needs": ["invitations"],
            "inputs": {"raw": "invitations"},
            "secrets": {"MYPROJ_TOKEN": {"ssm": "/myproj/token"}},
        }
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    monkeypatch.delenv("MYPROJ_TOKEN", raising=False)
    with pytest.raises(RunError) as info:
        run(spec)
    assert isinstance(info.value.failures[0], StepInputError)
    assert "secret(s) ['MYPROJ_TOKEN'] are not set" in info.value.failures[0].message
    monkeypatch.setenv("MYPROJ_TOKEN", "s3cr3t-value")
    pipeline, record = run(spec)
    store = make_store(pipeline.spec.artifact_root)
    manifest = read_manifest(store, pipeline.name, "tokenized", record.steps[1].key)
    assert manifest is not None
    assert set(read_output(pipeline, store, manifest)["token_length"]) == {len("s3cr3t-value")}
    root = Path(pipeline.spec.artifact_root)
    assert not [p for p in root.rglob("*") if p.is_file() and b"s3cr3t-value" in p.read_bytes()]


def test_a_user_step_is_checked_at_load(tmp_path, sample_warehouse) -> None:
    steps = {
        "features": {**FEATURES, "inputs": {"raw": "nope"}, "function": "not a function"},
        "parts": {"type": "python", "function": "myproj.parts:count", "needs": ["invitations"], "partitions": 2},
    }
    with pytest.raises(SpecError) as info:
        load_spec(user_project(tmp_path, sample_warehouse, steps))
    where = {i.where for i in info.value.issues}
    assert {"steps.features.function", "steps.parts.partition_by"} <= where


def test_stepml_build_returns_a_user_steps_output(tmp_path, sample_warehouse, monkeypatch) -> None:
    import stepml

    spec = user_project(tmp_path, sample_warehouse, {"features": FEATURES_IN})
    frame = stepml.build("features", spec=spec)
    assert isinstance(frame, pd.DataFrame) and "rate_ratio" in frame
    assert os.environ.get("PYTHONPATH", "").count(str(spec.parent)) == 0  # the run does not leak its import path


def test_user_steps_run_in_aws_as_ecs_tasks_or_processing_jobs(tmp_path, sample_warehouse, cloud, monkeypatch) -> None:
    steps = {
        "features": {**FEATURES_IN, "resources": {"cpu": 2048, "memory": 4096}},
        "parts": {
            "type": "python",
            "function": "myproj.parts:count",
            "needs": ["features"],
            "inputs": {"raw": "features"},
            "resources": {"instance_type": "ml.g5.xlarge"},  # e.g. a GPU: a SageMaker Processing job
            "iam": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::partner-bucket/*"]}],
        },
    }
    spec = user_project(tmp_path, sample_warehouse, steps)
    monkeypatch.syspath_prepend(str(spec.parent))  # the image holds the project's code (Dockerfile)
    pipeline = load_spec(spec)
    compiled = compile_pipeline(pipeline)
    job = named_states(compiled.definition["States"])["parts: run job"]
    assert job["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert job["Parameters"]["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert job["Parameters"]["RoleArn"] == "${ProcessingRoleArnParts}"  # its own role, with the spec's statements
    assert set(compiled.tasks) == {"features"} and set(compiled.processing) == {"parts"}
    assert compiled.tasks["features"].cpu == 2048
    with cloud(pipeline) as rig:
        described = rig.run({})
        assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"]), default=str)
        cloud_manifests = rig.manifests()
        assert {c.resource.rsplit(":", 1)[-1] for c in rig.worker.compute_calls()} == {
            "startQueryExecution.sync",
            "runTask.sync",
            "createProcessingJob.sync",
        }
    local_pipeline, record = run(spec)
    store = make_store(local_pipeline.spec.artifact_root)
    for outcome in record.steps:
        here = read_manifest(store, pipeline.name, outcome.name, outcome.key)
        assert here is not None
        there = cloud_manifests[outcome.name]
        assert (here["key"], here["rows"], here["summary"]) == (there["key"], there["rows"], there["summary"])
