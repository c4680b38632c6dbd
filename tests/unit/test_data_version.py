"""An extract's key holds the data version of its sources: a reloaded table re-runs the extract and what depends
on it; an unchanged warehouse keeps every key (issue 14: the cache sees new data)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from stepml.app import make_store
from stepml.errors import StepInputError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from steps.extract.probe_cloud import lookup_resolver
from tests.conftest import small_spec_dict, write_spec


@pytest.fixture
def spec(tmp_path: Path, sample_warehouse: Path) -> Path:
    shutil.copyfile(sample_warehouse, tmp_path / "warehouse.duckdb")
    return write_spec(tmp_path, small_spec_dict(tmp_path))


def keys(spec: Path, **params: Any) -> dict[str, str]:
    pipeline = load_spec(spec)
    plan = LocalRunner(pipeline, make_store(pipeline.spec.artifact_root)).plan(params)
    return {s.name: s.key for s in plan.steps}


def test_an_unchanged_warehouse_keeps_every_key(spec: Path) -> None:
    assert keys(spec) == keys(spec)


def test_a_reloaded_table_changes_the_extracts_and_what_depends_on_them(spec: Path) -> None:
    before = keys(spec)
    con = duckdb.connect(str(spec.parent / "warehouse.duckdb"))
    con.execute("DELETE FROM invitations WHERE invitation_id % 2 = 0")  # the table reloaded with half its rows
    con.close()
    after = keys(spec)
    assert {n for n in before if before[n] != after[n]} == set(before)  # both extracts read invitations


def test_a_table_only_one_extract_reads_changes_only_its_branch(spec: Path, tmp_path: Path) -> None:
    (tmp_path / "sql" / "only_jobs.sql").write_text("SELECT job_id, category FROM job_posts")
    raw = small_spec_dict(tmp_path)
    raw["steps"]["jobs"] = {"type": "extract", "sql": "sql/only_jobs.sql"}
    spec = write_spec(tmp_path, raw)
    before = keys(spec)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("UPDATE candidates SET skill_score = skill_score + 1 WHERE candidate_id = 1")  # same row count
    con.close()
    after = keys(spec)
    assert before["jobs"] == after["jobs"]  # it does not read candidates
    assert before["extract_train"] != after["extract_train"]  # an updated value, not only a count, is seen


def test_a_declared_probe_and_max_age(spec: Path, tmp_path: Path) -> None:
    (tmp_path / "sql" / "probe.sql").write_text("SELECT max(sent_at) FROM invitations")
    raw = small_spec_dict(tmp_path)
    raw["steps"]["extract_score"]["data_version"] = {"tables": [], "probe": "sql/probe.sql", "max_age": "1d"}
    spec = write_spec(tmp_path, raw)
    pipeline = load_spec(spec)
    runner = LocalRunner(pipeline, make_store(pipeline.spec.artifact_root))
    found = runner.plan({}).step("extract_score").resolved
    assert found is not None and found["tables"] == {} and len(found["probe"]) == 1 and "window" in found
    # another day, another window: the key moves even though the probe answers the same
    later = LocalRunner(pipeline, make_store(pipeline.spec.artifact_root), clock=lambda: 2e9)
    assert later.plan({}).step("extract_score").key != runner.plan({}).step("extract_score").key


def test_a_missing_source_table_is_left_to_the_extract_to_name(spec: Path, tmp_path: Path) -> None:
    raw = small_spec_dict(tmp_path)
    raw["steps"]["extract_score"]["data_version"] = {"tables": ["no_such_table"]}
    pipeline = load_spec(write_spec(tmp_path, raw))
    found = LocalRunner(pipeline, make_store(pipeline.spec.artifact_root)).plan({}).step("extract_score").resolved
    assert found is not None and found["tables"]["no_such_table"][0] == "unreadable"  # planned; the query says why


# ----------------------------------------------------------------------------------------------- in AWS
def test_the_aws_probe_lists_the_glue_tables_objects(s3: Any) -> None:
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "wh"})
    s3.create_bucket(Bucket="warehouse")
    glue.create_table(
        DatabaseName="wh", TableInput={"Name": "orders", "StorageDescriptor": {"Location": "s3://warehouse/orders"}}
    )
    s3.put_object(Bucket="warehouse", Key="orders/dt=2026-05-01/part-0.parquet", Body=b"one")
    config = {"steps": {"extract": {"engine": "athena", "athena": {"database": "wh"}}}}
    lookup = {"kind": "data", "tables": ["orders"], "probe": None, "max_age_s": None}
    clients = boto3.client

    first = lookup_resolver(clients, config, {}, "2026-05-01T03:00:00Z")("extract", lookup, {})
    again = lookup_resolver(clients, config, {}, "2026-05-01T03:00:00Z")("extract", lookup, {})
    assert first is not None and again is not None and first["digest"] == again["digest"]
    assert first["tables"]["orders"]["objects"] == 1
    s3.put_object(Bucket="warehouse", Key="orders/dt=2026-05-02/part-0.parquet", Body=b"two")  # a new partition
    moved = lookup_resolver(clients, config, {}, "2026-05-01T03:00:00Z")("extract", lookup, {})
    assert moved is not None and moved["digest"] != first["digest"]
    missing = {**lookup, "tables": ["nope"]}
    absent = lookup_resolver(clients, config, {}, "2026-05-01T03:00:00Z")("extract", missing, {})
    assert absent is not None and "missing" in absent["tables"]["nope"]  # the UNLOAD then fails, naming the step
    redshift = {"steps": {"extract": {"engine": "redshift"}}}
    with pytest.raises(StepInputError, match=r"Redshift set data_version\.tables"):
        lookup_resolver(clients, redshift, {}, "2026-05-01T03:00:00Z")("extract", lookup, {})


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM a AS x, b y, db.c WHERE 1=1", ["a", "b", "db.c"]),
        ('WITH x AS (SELECT * FROM a.b JOIN "c" ON 1=1) SELECT * FROM x JOIN UNNEST(arr) AS t(v)', ["a.b", "c"]),
        ("SELECT 1 FROM t -- FROM commented\nWHERE s = 'from quoted' /* JOIN hidden */", ["t"]),
        ("SELECT * FROM orders o LEFT JOIN customers c ON o.id = c.id", ["customers", "orders"]),
    ],
)
def test_the_tables_an_extract_reads_are_found_without_a_parser(sql: str, tables: list[str]) -> None:
    from steps.extract.spec import source_tables

    assert source_tables(sql) == tables
