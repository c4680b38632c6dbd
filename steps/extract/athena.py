"""``stepml.fetch`` pointed at the cloud: the same Trino-dialect SQL and parameters, run on Athena.

The query is rendered exactly as the local fetch renders it (``sqlrender.render`` with the same typed parameters,
for Trino, Athena's engine), started in the workgroup, polled with exponential backoff until it ends, and its
result set read page by page (``GetQueryResults``, 1,000 rows a page) into a DataFrame typed from the result's
column metadata. Meant for notebook-sized results; an extract step (UNLOAD to parquet) is the way for big ones.

The Athena client is given (``stepml.fetch`` builds it at the API boundary), so tests pass a moto client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stepml.errors import QueryError
from steps.extract.sqlrender import render

if TYPE_CHECKING:
    import pandas as pd

STEP = "fetch"
FIRST_POLL_S = 0.2
MAX_POLL_S = 5.0
_INTEGER = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOAT = {"float", "real", "double", "decimal"}
_TIME = {"date", "timestamp", "timestamp with time zone"}


def fetch_athena(
    athena: Any,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    database: str,
    workgroup: str = "primary",
    catalog: str = "AwsDataCatalog",
    output_location: str | None = None,
    timeout_s: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> pd.DataFrame:
    """Run ``sql`` (text; ``:name`` parameters) on Athena and return the result as a DataFrame."""
    query = render(sql, params or {}, dialect="trino", step=STEP)
    request: dict[str, Any] = {
        "QueryString": query,
        "QueryExecutionContext": {"Database": database, "Catalog": catalog},
        "WorkGroup": workgroup,
    }
    if output_location:
        request["ResultConfiguration"] = {"OutputLocation": output_location}
    try:
        qid = athena.start_query_execution(**request)["QueryExecutionId"]
    except Exception as exc:  # botocore ClientError: workgroup or database missing, access denied
        raise QueryError(STEP, f"Athena did not start the query: {exc}") from exc
    state, reason = wait(athena, qid, timeout_s=timeout_s, sleep=sleep, clock=clock)
    if state != "SUCCEEDED":
        raise QueryError(STEP, f"the Athena query {qid} {state.lower()}: {reason}")
    return read_results(athena, qid)


def wait(
    athena: Any,
    qid: str,
    *,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, str]:
    """Poll until the query ends (0.2 s, doubling up to 5 s between polls); (state, reason). A query still
    running after ``timeout_s`` is stopped."""
    deadline = clock() + timeout_s
    delay = FIRST_POLL_S
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        state = str(status["State"])
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return state, str(status.get("StateChangeReason", ""))
        if clock() + delay > deadline:
            athena.stop_query_execution(QueryExecutionId=qid)
            return "CANCELLED", f"still {state} after {timeout_s:g} s (stopped)"
        sleep(delay)
        delay = min(delay * 2, MAX_POLL_S)


def read_results(athena: Any, qid: str) -> pd.DataFrame:
    """Every page of the result set. For a SELECT, Athena's first row holds the column names: it is dropped."""
    import pandas as pd

    columns: list[dict[str, Any]] = []
    rows: list[list[str | None]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        result = page["ResultSet"]
        if not columns:
            columns = list(result.get("ResultSetMetadata", {}).get("ColumnInfo", []))
        rows.extend([c.get("VarCharValue") for c in r.get("Data", [])] for r in result.get("Rows", []))
    names = [str(c.get("Label") or c["Name"]) for c in columns]
    if rows and rows[0] == names:
        rows = rows[1:]
    frame = pd.DataFrame(rows, columns=names or None)
    for column, info in zip(names, columns, strict=True):
        frame[column] = _typed(frame[column], str(info.get("Type", "varchar")).lower())
    return frame


def _typed(values: pd.Series, kind: str) -> pd.Series:
    import pandas as pd

    base = kind.split("(")[0].strip()
    if base in _INTEGER:
        return pd.to_numeric(values).astype("Int64")
    if base in _FLOAT:
        return pd.to_numeric(values).astype("float64")
    if base == "boolean":
        return values.map({"true": True, "false": False, None: None}).astype("boolean")
    if base in _TIME:
        return pd.to_datetime(values)
    return values.astype("object")
