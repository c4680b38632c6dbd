"""The plan Lambda computes the same keys as the local runner, and renders each extract's SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stepml.cloud.bundle import CONFIG_FILE, stage_asset
from stepml.cloud.handlers import _config
from stepml.cloud.handlers.models import GROUP_PREFIX_ENV
from stepml.cloud.handlers.plan import handler
from stepml.core.plan import make_plan, recorded
from stepml.errors import ParamError
from stepml.spec import load_spec
from steps.extract import sqltokens
from tests.conftest import ROOT

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stepml-job-matching-dev:run-1"


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_asset(load_spec(ROOT / "pipeline.yaml"), tmp_path_factory.mktemp("asset") / "lambda")


@pytest.fixture
def lambda_env(staged: Path, monkeypatch: pytest.MonkeyPatch, s3: Any) -> Iterator[None]:
    """The plan Lambda's environment, on moto: the gate's champion look-up finds an empty model package group; the
    extracts' data-version probe finds the warehouse's Glue tables and their S3 objects."""
    monkeypatch.setenv("STEPML_CLOUD_CONFIG", str(staged / CONFIG_FILE))
    monkeypatch.setenv("ARTIFACT_BUCKET", "artifacts")
    monkeypatch.setenv(GROUP_PREFIX_ENV, "stepml-test")
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName="stepml-test-job-matching")
    glue_tables(s3)
    _config.load_config.cache_clear()
    yield
    _config.load_config.cache_clear()


def glue_tables(s3: Any) -> None:
    """The reference warehouse's tables in Glue (database stepml_sample), each with a file under its location."""
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "stepml_sample"})
    s3.create_bucket(Bucket="warehouse")
    for table in ("candidates", "invitations", "job_posts"):
        location = f"s3://warehouse/{table}/"
        glue.create_table(
            DatabaseName="stepml_sample", TableInput={"Name": table, "StorageDescriptor": {"Location": location}}
        )
        s3.put_object(Bucket="warehouse", Key=f"{table}/part-0.parquet", Body=f"{table} v1".encode())


def _event(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "params": params,
        "execution_id": EXECUTION,
        "execution_name": "run-1",
        "started_at": "2026-05-01T03:00:00.5Z",
    }


@pytest.mark.parametrize(
    "params",
    [{}, {"lookback_days": "90"}, {"as_of": "2026-01-15", "score_days": 7}, {"lookback_days": 365, "score_days": "3"}],
)
def test_cloud_keys_equal_local_keys(lambda_env: None, params: dict[str, Any]) -> None:
    # Given the same spec, parameters and lookups (what the plan Lambda found: the data versions, no champion),
    # the plan Lambda and the local runner's plan compute the same keys
    cloud = handler(_event(params))
    found = {n: s.get("resolved") for n, s in cloud["steps"].items()}
    assert found["extract_train"]["tables"]["invitations"]["objects"] == 1  # the AWS probe: Glue + S3 listing
    local = make_plan(load_spec(ROOT / "pipeline.yaml").plan_input, params, recorded(found))
    assert {n: s["key"] for n, s in cloud["steps"].items()} == {s.name: s.key for s in local.steps}
    assert cloud["params"] == local.params
    train = cloud["steps"]["train"]
    assert train["manifest_key"] == f"job-matching/steps/train/{train['key']}/_manifest.json"  # stepml.core.layout
    assert train["uri"].startswith(f"s3://artifacts/job-matching/steps/train/{train['key']}/20260501T030000-")


def test_bad_parameters_are_a_param_error(lambda_env: None) -> None:
    with pytest.raises(ParamError, match="lookback_days"):
        handler(_event({"lookback_days": "3"}))


def test_extract_sql_gets_typed_literals(lambda_env: None) -> None:
    entry = handler(_event({"lookback_days": 90}))["steps"]["extract_train"]
    sql = f"{entry['sql_head']}0-0{entry['sql_tail']}"
    assert f"TO '{entry['uri']}/unload/0-0/'" in sql
    assert sql.startswith("UNLOAD (") and "format = 'PARQUET'" in sql
    assert sqltokens.TOKEN_PREFIX not in sql
    assert "-90" in sql and "DATE '2026-05-01'" in sql


def test_plan_output_stays_small(lambda_env: None) -> None:
    assert len(json.dumps(handler(_event({})))) < 32 * 1024  # far below Step Functions' 256 KB payload limit


def test_literals_cannot_change_the_statement() -> None:
    assert sqltokens.literal("str", "x' OR '1'='1") == "'x'' OR ''1''=''1'"
    assert sqltokens.literal("bool", True) == "TRUE"
    assert sqltokens.literal("float", 0.5) == "0.5"
    with pytest.raises(ValueError, match="does not define"):
        sqltokens.substitute("SELECT '__stepml_param_nope__'", {}, {})


def test_redshift_unload_quotes_the_query() -> None:
    sql = sqltokens.unload("SELECT 'a'", engine="redshift", uri="s3://b/p/", iam_role="arn:aws:iam::1:role/r")
    assert sql == "UNLOAD ('SELECT \\'a\\'') TO 's3://b/p/' IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS PARQUET"


def test_training_job_names_are_valid(lambda_env: None) -> None:
    name = handler(_event({}))["steps"]["train"]["job_name"]  # the states add "-<redrives>-<retries>"
    assert len(name) <= 63 - len("-999-99") and name.replace("-", "").isalnum() and not name.endswith("-")


def test_params_that_are_not_an_object_are_a_param_error(lambda_env: None) -> None:
    with pytest.raises(ParamError, match="must be an object"):
        handler({**_event({}), "params": "as_of=2026-05-01"})
