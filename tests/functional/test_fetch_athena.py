"""``stepml.fetch`` pointed at the cloud: the same SQL and parameters, run on Athena (moto, in process).

moto runs no query; it returns the result set configured through its ``/moto-api/static/athena/query-results``
endpoint, and records the query string it was given - which is what these tests compare with the local render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from moto.moto_api import state_manager

import stepml
from stepml.errors import ParamError, QueryError
from steps.extract.sqlrender import render
from tests.conftest import ROOT

REGION = "us-east-1"
SPEC = ROOT / "pipeline.yaml"  # warehouse.athena: database stepml_sample, workgroup stepml
COLUMNS = [("invitation_id", "bigint"), ("region", "varchar"), ("accepted", "boolean"),
           ("skill_score", "double"), ("created", "date")]  # fmt: skip


@pytest.fixture
def athena(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name="stepml-dev")
        yield client
    state_manager.unset_transition("athena::execution")


def _results(rows: list[list[str | None]]) -> None:
    """What moto's Athena returns next: Athena's shape for a SELECT (the first row holds the column names)."""
    header = {"Data": [{"VarCharValue": name} for name, _ in COLUMNS]}
    data = [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in rows]
    info = [{"Name": n, "Label": n, "Type": t, "CatalogName": "hive", "SchemaName": "", "TableName": "",
             "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False} for n, t in COLUMNS]  # fmt: skip
    body: dict[str, Any] = {"account_id": "123456789012", "region": REGION,
                            "results": [{"rows": [header, *data], "column_info": info}]}  # fmt: skip
    assert requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json=body).ok


def test_fetch_on_athena_runs_the_same_rendered_sql_and_types_the_result(athena: Any) -> None:
    # Given the result Athena will return
    _results([["1", "tokyo", "true", "0.5", "2026-04-01"], ["2", None, "false", None, "2026-04-02"]])
    # When a notebook fetches the training set from the cloud with the spec's typed parameters
    df = stepml.fetch("sql/training_set.sql", spec=SPEC, engine="athena", as_of="2026-04-01", lookback_days=30)
    # Then Athena ran exactly what the local fetch renders (same SQL, same typed parameters), for Trino
    (qid,) = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    typed = {"as_of": dt.date(2026, 4, 1), "lookback_days": 30}
    assert execution["Query"] == render((ROOT / "sql/training_set.sql").read_text(), typed, dialect="trino")
    assert "CAST('2026-04-01' AS DATE)" in execution["Query"]  # the typed parameter, not a string
    assert execution["QueryExecutionContext"]["Database"] == "stepml_sample"
    assert execution["WorkGroup"] == "stepml-dev"  # the data stack's workgroup for the dev stage
    # and the header row is gone, each column typed from the result's metadata, NULLs missing
    assert list(df.columns) == [n for n, _ in COLUMNS] and len(df) == 2
    assert df["invitation_id"].tolist() == [1, 2] and str(df["invitation_id"].dtype) == "Int64"
    assert df["accepted"].tolist() == [True, False] and df["skill_score"].iloc[0] == 0.5
    assert df["region"].isna().tolist() == [False, True] and df["skill_score"].isna().tolist() == [False, True]
    assert str(df["created"].dtype).startswith("datetime64") and df["created"].iloc[1].day == 2


def test_an_s3_root_means_athena_with_results_in_that_bucket(athena: Any) -> None:
    athena.create_work_group(Name="stepml-prod")
    _results([["7", "osaka", "false", "1.0", "2026-05-01"]])
    df = stepml.fetch("SELECT 7 AS invitation_id", spec=SPEC, root="s3://acme-artifacts/stepml", stage="prod")
    (qid,) = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://acme-artifacts/athena-results/")
    assert execution["WorkGroup"] == "stepml-prod"
    assert df["invitation_id"].tolist() == [7]


def test_a_query_that_does_not_finish_is_stopped_with_backoff_and_named(athena: Any) -> None:
    # Given a query that stays queued (moto's state manager: it advances only after 1000 polls)
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 1000})
    from steps.extract.athena import fetch_athena

    waited: list[float] = []

    def clock() -> float:  # time passes as the fetch sleeps
        return sum(waited)

    with pytest.raises(QueryError, match=r"'fetch': the Athena query .* cancelled: still QUEUED after 30 s"):
        fetch_athena(athena, "SELECT 1", database="db", workgroup="stepml-dev", timeout_s=30, sleep=waited.append,
                     clock=clock)  # fmt: skip
    # Then it polled with exponential backoff up to 5 s, and stopped the query
    assert waited == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]  # 26.2 s; one more would pass 30 s
    (qid,) = athena.list_query_executions()["QueryExecutionIds"]
    assert athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_an_unknown_engine_is_a_named_error() -> None:
    with pytest.raises(ParamError, match="engine 'bigquery'"):
        stepml.fetch("SELECT 1", spec=SPEC, engine="bigquery")
