"""Extract in AWS: Athena ``startQueryExecution.sync`` on the UNLOAD the plan rendered, or the Redshift Data API
(``executeStatement``, then polled).

Each attempt of the query state unloads to its own ``unload/<redrives>-<retries>/`` (Athena's UNLOAD needs an empty
location and leaves a failed attempt's files behind); the result records which one, and the commit reads it."""

from __future__ import annotations

from typing import Any

from stepml.sdk import StepStates

POLL_SECONDS = 15


def build(b: StepStates) -> str:
    warehouse = b.pipeline.spec.warehouse
    resources = b.spec.resources
    statement = b.per_attempt_text(b.plan("sql_head"), b.plan("sql_tail"))
    if warehouse.engine == "athena":
        context = (
            {"Database": warehouse.athena.database, "Catalog": warehouse.athena.catalog} if warehouse.athena else {}
        )
        return b.task(
            "query",
            "arn:aws:states:::athena:startQueryExecution.sync",
            {"QueryString.$": statement, "WorkGroup": "${AthenaWorkGroup}", "QueryExecutionContext": context},
            result_selector={"query_id.$": "$.QueryExecution.QueryExecutionId", "unload.$": b.attempt_token},
            result_path="$.task",
            next_=b.commit,
            services=("athena",),
            timeout_s=resources.timeout_minutes * 60,
            retries=resources.retries,
        )
    redshift = warehouse.redshift
    target: dict[str, Any] = {"Database": redshift.database if redshift else "dev"}
    target["ClusterIdentifier" if redshift and redshift.cluster_identifier else "WorkgroupName"] = "${RedshiftTarget}"
    if redshift and redshift.secret_arn:
        target["SecretArn"] = redshift.secret_arn
    first = b.task(
        "query",
        "arn:aws:states:::aws-sdk:redshiftdata:executeStatement",
        {**target, "Sql.$": statement},
        result_selector={"query_id.$": "$.Id", "unload.$": b.attempt_token},
        result_path="$.task",
        next_=b.state("wait for query"),
        services=("redshift",),
        retries=resources.retries,
    )
    b.add("wait for query", {"Type": "Wait", "Seconds": POLL_SECONDS, "Next": b.state("query status")})
    b.task(
        "query status",
        "arn:aws:states:::aws-sdk:redshiftdata:describeStatement",
        {"Id.$": "$.task.query_id"},
        result_selector={"status.$": "$.Status"},
        result_path="$.query",
        next_=b.state("query done?"),
        services=("redshift",),
    )
    b.add(
        "query done?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.query.status", "StringEquals": "FINISHED", "Next": b.commit},
                {
                    "Or": [
                        {"Variable": "$.query.status", "StringEquals": "FAILED"},
                        {"Variable": "$.query.status", "StringEquals": "ABORTED"},
                    ],
                    "Next": b.state("query failed"),
                },
            ],
            "Default": b.state("wait for query"),
        },
    )
    b.add(
        "query failed",
        {
            "Type": "Pass",
            "Parameters": {"Error": "QueryError", "Cause.$": "States.Format('{} {}', $.task.query_id, $.query.status)"},
            "ResultPath": "$.error",
            "Next": b.on_error,
        },
    )
    return first
