"""Same output, same key, everywhere: every step type records the same manifest locally and in AWS.

The example pipeline (examples/job_matching/pipeline.yaml: extract, the user's python steps, train, gate, score,
check - every built-in type) runs once locally and once as the compiled state machine in the moto rig; then, per
type, each of its steps' manifests are compared field by field. Where a value is a location (an attempt folder, a
model's URI) only its presence is compared; everything a step computes or decides must be equal.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from stepml.core import manifest as mf
from stepml.local.runner import LocalRunner
from stepml.spec import Pipeline, load_spec
from stepml.store import open_store
from tests.cloud_harness.rig import EXECUTE, failures, open_rig
from tests.conftest import ROOT
from tests.functional.conftest import CREDENTIALS

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "job_matching" / "pipeline.yaml"
TYPES = ["extract", "python", "train", "gate", "score", "check"]
SAME = ("schema", "pipeline", "step", "type", "key", "components", "params", "parents", "code_digest", "rows", "detail")
PER_RUN = {"prefix", "files", "run_id", "started_at", "finished_at", "duration_s", "versions", "executor"}


def example_spec(workdir: Path, warehouse: Path) -> Path:
    """The example pipeline, small: a copy of the sample warehouse, a quick model, its code from this checkout."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["project_root"] = str(ROOT)
    raw["artifact_root"] = str(workdir / "artifacts")
    raw["warehouse"]["local"] = {"path": str(workdir / "warehouse.duckdb")}
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    raw["steps"]["extract_train"]["min_rows"] = 100
    raw["steps"]["extract_score"]["rows_per_file"] = 500
    raw["steps"]["features_score"]["rows_per_file"] = 600
    raw["steps"]["gate"]["min_value"] = 0.6
    raw["steps"]["check"]["min_rows"] = 100
    raw["model"]["hyperparameters"]["max_iter"] = 20
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, workdir / "warehouse.duckdb")
    path = workdir / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def both(
    sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Pipeline, dict[str, Any], dict[str, Any]]]:
    """(pipeline, local manifests, cloud manifests) by step, from one local run and one execution in the rig."""
    workdir = tmp_path_factory.mktemp("contract")
    pipeline = load_spec(example_spec(workdir, sample_warehouse))
    store = open_store(pipeline.spec.artifact_root)
    record = LocalRunner(pipeline, store).run({})
    local = {o.name: mf.read_manifest(store, pipeline.name, o.name, o.key) for o in record.steps}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in CREDENTIALS.items():
            mp.setenv(k, v)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws(config=EXECUTE), open_rig(pipeline, workdir) as rig:
            described = rig.run({})
            assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"]), default=str)
            cloud = rig.manifests()
    yield pipeline, local, cloud


def located(value: Any) -> Any:
    """``value`` with every location (a ``uri``) replaced by a marker of its presence."""
    if isinstance(value, dict):
        return {k: ("<uri>" if k == "uri" and v else located(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [located(v) for v in value]
    return value


@pytest.mark.parametrize("kind", TYPES)
def test_a_step_type_records_the_same_manifest_locally_and_in_aws(both: Any, kind: str) -> None:
    pipeline, local, cloud = both
    steps = [n for n, s in pipeline.steps.items() if s.type == kind]
    assert steps, kind
    for step in steps:
        here, there = local[step], cloud[step]
        assert here is not None and there is not None, step
        assert set(here) == set(there), step  # the same fields
        assert set(here) - set(SAME) - {"summary"} == PER_RUN
        for field in SAME:
            assert here[field] == there[field], (step, field, here[field], there[field])
        assert located(here["summary"]) == located(there["summary"]), step
        assert here["executor"]["name"] == "local" and there["executor"]["name"] == "aws-stepfunctions"
        # the same tables; other files alike but for logs (CloudWatch in AWS) and SageMaker's model packing
        tables = [(f["path"], f["role"]) for f in here["files"] if f["role"] == "data"]
        assert tables == [(f["path"], f["role"]) for f in there["files"] if f["role"] == "data"], step
        if kind != "train":
            artifacts = {f["path"] for f in here["files"] if f["role"] == "artifact"}
            assert artifacts == {f["path"] for f in there["files"] if f["role"] == "artifact"}, step
