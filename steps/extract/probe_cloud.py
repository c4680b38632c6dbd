"""The data version of an extract's sources in AWS, in the plan Lambda (standard library + boto3).

Per source table, what costs no query: the Glue table's location and the ETags, sizes and keys of the objects
under it (one ListObjectsV2 call per 1,000 objects; a partition stored outside the table's location is not seen -
declare a probe query or ``max_age`` for such tables). A probe query the spec declares runs on Athena (its data
scanned - and so its cost - is reported in the plan output). ``max_age`` adds the execution's time window. The
digest of all of it enters the extract's key, as locally (``steps.extract.probe``) - over the cloud's warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from stepml.errors import QueryError, StepInputError

ATHENA_WORKGROUP_ENV = "STEPML_ATHENA_WORKGROUP"


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


class CloudProbe:
    def __init__(self, clients: Any, environment: Mapping[str, str]) -> None:
        self.clients = clients
        self.environment = environment
        self._tables: dict[str, Any] = {}

    def table(self, name: str, step: str, warehouse: Mapping[str, Any]) -> Any:
        database, _, table = name.rpartition(".")
        database = database or str(warehouse.get("database", ""))
        name = f"{database}.{table}"
        if name in self._tables:
            return self._tables[name]
        glue, s3 = self.clients("glue"), self.clients("s3")
        try:
            described = glue.get_table(DatabaseName=database, Name=table)["Table"]
        except glue.exceptions.EntityNotFoundException as exc:  # the extract's own query then names the error
            self._tables[name] = {"missing": str(exc)[:200]}
            return self._tables[name]
        except Exception as exc:  # AccessDenied, throttling: the data version cannot be known
            raise QueryError(step, f"cannot probe source table {database}.{table} in Glue: {exc}") from None
        location = str(described.get("StorageDescriptor", {}).get("Location") or "")
        if not location.startswith("s3://"):
            raise StepInputError(step, f"source table {database}.{table} has no S3 location to probe ({location!r})")
        bucket, prefix = _split(location)
        h, objects = hashlib.sha256(), 0
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
        for page in pages:
            for obj in page.get("Contents", []):
                h.update(f"{obj['Key']}\0{obj.get('ETag', '')}\0{obj.get('Size', 0)}\n".encode())
                objects += 1
        self._tables[name] = {"location": location, "objects": objects, "etags": h.hexdigest()}
        return self._tables[name]

    def query(self, sql: str, step: str, warehouse: Mapping[str, Any]) -> dict[str, Any]:
        athena = self.clients("athena")
        workgroup = self.environment.get(ATHENA_WORKGROUP_ENV) or str(warehouse.get("workgroup", "primary"))
        context = {"Database": str(warehouse.get("database", "")), "Catalog": str(warehouse.get("catalog", ""))}
        started = athena.start_query_execution(QueryString=sql, QueryExecutionContext=context, WorkGroup=workgroup)
        qid = started["QueryExecutionId"]
        deadline = time.monotonic() + 40  # the plan Lambda has a minute
        while True:
            status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            state = status["Status"]["State"]
            if state in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if state != "SUCCEEDED":
            reason = status["Status"].get("StateChangeReason", state)
            raise QueryError(step, f"the data_version probe query did not succeed: {reason}")
        rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
        values = [[c.get("VarCharValue") for c in r.get("Data", [])] for r in rows]
        scanned = int(status.get("Statistics", {}).get("DataScannedInBytes", 0))
        return {"rows": values, "scanned_bytes": scanned}

    def resolve(self, step: str, lookup: Mapping[str, Any], now: float, warehouse: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        tables = {str(t): self.table(str(t), step, warehouse) for t in lookup.get("tables", [])}
        found: dict[str, Any] = {"tables": tables}
        cost: dict[str, Any] = {}
        if lookup.get("probe"):
            answer = self.query(str(lookup["probe"]), step, warehouse)
            found["probe"] = answer["rows"]
            cost["probe_scanned_bytes"] = answer["scanned_bytes"]
        if lookup.get("max_age_s"):
            found["window"] = int(now // int(lookup["max_age_s"]))
        digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()
        return {"digest": digest, **found, **cost, "seconds": round(time.perf_counter() - started, 3)}


def lookup_resolver(clients: Any, config: Mapping[str, Any], environment: Mapping[str, str], started_at: str) -> Any:
    """A data-version resolver for the plan Lambda (``clients``: boto3 clients by service name; ``config``: the
    Lambda config, whose extract steps name their Athena database)."""
    probe = CloudProbe(clients, environment)
    now = dt.datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp()

    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        settings = config["steps"][step]
        if settings.get("engine", "athena") != "athena" and (lookup.get("tables") or lookup.get("probe")):
            raise StepInputError(
                step,
                "data_version probes run through Glue and Athena; with Redshift set data_version.tables: [] "
                "and use max_age (or data_version.enabled: false)",
            )
        return probe.resolve(step, lookup, now, settings.get("athena", {}))

    return resolve
