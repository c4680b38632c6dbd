"""An online test end to end on the sample warehouse: train two rankers, serve an A/B test, read it out over
exposures and outcomes simulated with a known true lift - locally, and the serving in the moto rig."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from stepml.app import make_store
from stepml.errors import ExperimentChangedError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from tests.conftest import ROOT, stepml_cli

EXAMPLE = ROOT / "examples" / "online_test"
LIFT = 0.10


def online_spec(tmp_path: Path, mutate: Any = None) -> Path:
    """examples/online_test/pipeline.yaml on a small warehouse of its own (exposures and outcomes simulated for
    the experiment, +10 % for the treatment), with quick models."""
    wd = tmp_path / "online"
    wd.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = yaml.safe_load((EXAMPLE / "pipeline.yaml").read_text())
    raw["artifact_root"] = str(wd / "artifacts")
    raw["project_root"] = str(ROOT)
    local = raw["warehouse"]["local"]
    local["path"] = str(wd / "warehouse.duckdb")
    local["sample"].update({"rows": 20_000, "score_rows": 30_000})
    local["sample"]["experiment"].update(sessions=6.0, base_rate=0.1)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    raw["steps"]["extract_outcomes"]["sql"] = str(EXAMPLE / "outcomes.sql")
    raw["steps"]["extract_train"]["min_rows"] = 100
    raw["models"]["ranker-gbm"]["hyperparameters"] = {"max_iter": 20}
    if mutate:
        mutate(raw)
    path = wd / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run(spec: Path, **kw: Any) -> tuple[Any, Any, Any]:
    from stepml.app import ensure_warehouse

    pipeline = load_spec(spec)
    ensure_warehouse(pipeline, say=lambda _: None)
    store = make_store(pipeline.spec.artifact_root)
    record = LocalRunner(pipeline, store).run(**kw)
    return pipeline, store, record


def output(store: Any, pipeline: Any, record: Any, step: str, table: str = "data") -> pd.DataFrame:
    from stepml.core.manifest import read_manifest

    key = next(s.key for s in record.steps if s.name == step)
    m = read_manifest(store, pipeline.name, step, key)
    assert m is not None
    return pd.read_parquet(store.local_path(f"{m['prefix']}/{table}"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any, Any]:
    spec = online_spec(tmp_path_factory.mktemp("online"))
    return (spec, *run(spec))


def test_the_readout_recovers_the_planted_lift(finished: Any) -> None:
    _, pipeline, store, record = finished
    assert {s.name: s.status for s in record.steps} == dict.fromkeys(pipeline.steps, "ran")
    readout = json.loads(
        Path(
            store.local_path(next(f"{m}/readout.json" for m in [_prefix(store, pipeline, record, "readout")]))
        ).read_text()
    )
    [row] = [r for r in readout["table"] if r["metric"] == "apply_rate" and r["variant"] == "treatment"]
    assert row["relative_low"] < LIFT < row["relative_high"], row  # the interval covers the true lift
    assert row["relative_low"] > 0, row  # and the sample is big enough to see it
    assert not readout["srm"]["alert"]
    share = readout["multiple_exposure"]["share"]
    assert 0.0 < share < 0.01  # the simulated contamination (0.2 %) is seen, under the alert
    table = output(store, pipeline, record, "readout")
    assert {"metric", "variant", "value", "ci_low", "ci_high", "relative_lift"} <= set(table.columns)


def test_serving_matches_the_assignment_the_warehouse_saw(finished: Any) -> None:
    """The sample simulated exposures by the same hash: every unit's served variant is the one it was exposed to."""
    import duckdb

    _, pipeline, store, record = finished
    serving = output(store, pipeline, record, "serve")
    assignments = output(store, pipeline, record, "serve", "tables/assignments")
    served = serving.groupby("candidate_id")["variant"].first()
    con = duckdb.connect(str(pipeline.resolve(pipeline.spec.warehouse.local.path)), read_only=True)
    exposed = (
        con.execute(
            "SELECT candidate_id, min(variant) AS v FROM exposures GROUP BY 1 HAVING count(DISTINCT variant) = 1"
        )
        .df()
        .set_index("candidate_id")["v"]
    )
    con.close()
    common = served.index.intersection(exposed.index)
    assert len(common) > 1000
    assert (served.loc[common].to_numpy() == exposed.loc[common].to_numpy()).all()
    assert (serving.groupby("candidate_id").size() <= 5).all()
    assert set(assignments.columns) >= {"experiment", "salt", "unit", "variant", "bucket", "assigned_at"}
    # published where the serving side reads it, with the schema the Athena table declares
    import pyarrow.parquet as pq

    from infra.constructs.serving import columns
    from stepml.experiments.record import latest_key

    latest = json.loads(store.read_bytes(latest_key("ranker-ab")))
    schema = pq.read_schema(latest["published"])
    arrow = {"string": "string", "bigint": "int64", "double": "double", "boolean": "bool"}
    for name, glue_type in columns("candidate_id", "job_id"):
        assert str(schema.field(name).type) in (arrow[glue_type], "large_string"), name
    assert f"served_date={latest['served_date']}/" in latest["published"]


def _prefix(store: Any, pipeline: Any, record: Any, step: str) -> str:
    from stepml.core.manifest import read_manifest

    key = next(s.key for s in record.steps if s.name == step)
    m = read_manifest(store, pipeline.name, step, key)
    assert m is not None
    return str(m["prefix"])


def test_changing_a_running_experiments_weights_fails_before_serving(finished: Any, tmp_path: Path) -> None:
    spec, pipeline, store, _ = finished
    raw = yaml.safe_load(spec.read_text())
    raw["experiments"]["ranker-ab"]["variants"]["treatment"]["weight"] = 0.7
    changed = spec.with_name("changed.yaml")
    changed.write_text(yaml.safe_dump(raw, sort_keys=False))
    before = set(store.list(f"{pipeline.name}/steps/serve"))
    with pytest.raises(ExperimentChangedError, match=r"experiments\.ranker-ab\.weights"):
        run(changed)
    assert set(store.list(f"{pipeline.name}/steps/serve")) == before  # nothing served
    result = stepml_cli(changed, "run")
    assert result.returncode == 2, result.stderr
    assert "ranker-ab" in result.stderr and "rename the experiment" in result.stderr

    raw["experiments"] = {"ranker-ab-2": raw["experiments"]["ranker-ab"]}  # renamed: a new experiment
    raw["steps"]["serve"]["experiment"] = raw["steps"]["readout"]["experiment"] = "ranker-ab-2"
    renamed = spec.with_name("renamed.yaml")
    renamed.write_text(yaml.safe_dump(raw, sort_keys=False))
    _, _, again = run(renamed, targets={"serve"})
    assert {s.name: s.status for s in again.steps}["serve"] == "ran"


def test_experiment_commands(finished: Any) -> None:
    spec, record = finished[0], finished[3]
    report = stepml_cli(spec, "report", record.run_id, "--out", str(spec.with_name("report.html")), "--no-evidently")
    assert report.returncode == 0, report.stderr
    page = spec.with_name("report.html").read_text()
    assert "Online test ranker-ab (ab)" in page and "id='readout-ranker-ab'" in page and "apply_rate" in page
    listed = stepml_cli(spec, "experiments")
    assert listed.returncode == 0, listed.stderr
    assert "ranker-ab" in listed.stdout and "ranker-ab-2026-05" in listed.stdout
    dry = stepml_cli(spec, "experiments", "dry-run", "ranker-ab", "--coverage", "0.5")
    assert dry.returncode == 0, dry.stderr
    assert "would be in the test" in dry.stdout and "control" in dry.stdout
    import stepml

    frame = stepml.assignments("ranker-ab", spec=spec)
    assert list(frame.columns) == ["experiment", "salt", "unit", "variant", "bucket", "in_experiment", "first_assigned"]
    assert frame["unit"].is_unique and len(frame) > 1000
    db = spec.with_name("serving.duckdb")
    served = stepml_cli(spec, "experiments", "serving", "ranker-ab", "--run", record.run_id, "--duckdb", str(db))
    assert served.returncode == 0, served.stderr
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    counts = dict(
        con.execute("SELECT served_variant, count(DISTINCT candidate_id) FROM ranker_ab GROUP BY 1").fetchall()
    )
    con.close()
    assert set(counts) == {"control", "treatment"} and sum(counts.values()) == len(frame)


def test_the_serving_is_identical_in_the_moto_rig(finished: Any, cloud: Any) -> None:
    import io

    from tests.cloud_harness.rig import BUCKET, failures

    _, pipeline, store, record = finished
    with cloud(pipeline) as rig:
        described = rig.run({})
        assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"]), default=str)
        there = rig.manifests()
        s3 = rig.s3
        prefix = there["serve"]["prefix"]
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/tables/assignments/")["Contents"]
        cloud_assignments = pd.concat(
            pd.read_parquet(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())) for o in listed
        )
        record_body = s3.get_object(Bucket=BUCKET, Key="experiments/ranker-ab/experiment.json")["Body"].read()
        assert json.loads(record_body)["salt"] == "ranker-ab-2026-05"
        history = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{pipeline.name}/metrics/")["Contents"]
        points = [p for o in history for p in json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
                  ["datapoints"]]  # fmt: skip
        assert {"SampleRatioMismatch", "SRMPValue", "MultipleExposureShare"} <= {p["metric"] for p in points}
        latest = json.loads(s3.get_object(Bucket=BUCKET, Key="serving/ranker-ab/latest.json")["Body"].read())
        published = latest["published"].removeprefix(f"s3://{BUCKET}/")
        assert s3.head_object(Bucket=BUCKET, Key=published)["ContentLength"] > 0
    here = output(store, pipeline, record, "serve", "tables/assignments")
    merged = here.merge(cloud_assignments, on="unit", suffixes=("_local", "_cloud"))
    assert len(merged) == len(here) == len(cloud_assignments)
    assert (merged["variant_local"] == merged["variant_cloud"]).all()
    assert (merged["bucket_local"] == merged["bucket_cloud"]).all()
    assert there["serve"]["key"] == next(s.key for s in record.steps if s.name == "serve")
