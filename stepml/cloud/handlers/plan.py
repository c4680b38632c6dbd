"""The plan Lambda: the execution's parameters -> every step's key, prefixes, lock id and rendered SQL.

It calls :func:`stepml.plan.make_plan` on the embedded :class:`~stepml.plan.PlanInput` - the same function and
the same record the local runner uses - so local and cloud keys are equal for the same spec and parameters.
Invalid parameters raise ``ParamError`` (the state machine's Catch reports it). Output (kept small)::

    {"pipeline", "run_id", "params", "now", "lock_expires_at",
     "steps": {name: {"type", "key", "prefix", "manifest_key", "lock_id", "attempt", "uri",
                      "sql" (extract), "job_name" (train)}}}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from stepml.cloud.handlers._config import load_config
from stepml.cloud.sqltokens import substitute, unload
from stepml.plan import PlanInput, make_plan

MANIFEST = "_manifest.json"


def _started(started_at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(started_at.replace("Z", "+00:00")).astimezone(dt.UTC)


def job_name(pipeline: str, step: str, key: str, suffix: str) -> str:
    """A SageMaker training job name (unique per attempt, at most 63 characters, [a-zA-Z0-9-])."""
    raw = f"{pipeline[:24]}-{step[:16]}-{key[:8]}-{suffix}"
    return re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9-]", "-", raw)).strip("-")[:63]


def plan_payload(
    config: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    bucket: str,
    execution_id: str,
    execution_name: str,
    started_at: str,
    redshift_role: str | None = None,
) -> dict[str, Any]:
    pinput = PlanInput.from_json(config["plan_input"])
    plan = make_plan(pinput, params or {})
    started = _started(started_at)
    suffix = hashlib.sha256(execution_id.encode()).hexdigest()[:6]
    attempt = f"{started.strftime('%Y%m%dT%H%M%S')}-{suffix}"
    types = {name: rec.type for name, rec in pinput.params.items()}
    steps: dict[str, dict[str, Any]] = {}
    for s in plan.steps:
        prefix = f"{plan.pipeline}/steps/{s.name}/{s.key}"
        entry: dict[str, Any] = {
            "type": s.type,
            "key": s.key,
            "prefix": prefix,
            "manifest_key": f"{prefix}/{MANIFEST}",
            "lock_id": f"{plan.pipeline}/{s.name}-{s.key}",
            "attempt": f"{prefix}/{attempt}",
            "uri": f"s3://{bucket}/{prefix}/{attempt}",
        }
        step_config = config["steps"][s.name]
        if s.type == "extract":
            select = substitute(step_config["sql"], types, plan.params)
            entry["sql"] = unload(
                select, engine=config["engine"], uri=f"{entry['uri']}/unload/", iam_role=redshift_role
            )
        if s.type == "train":
            entry["job_name"] = job_name(plan.pipeline, s.name, s.key, f"{suffix}{started.strftime('%H%M%S')}")
        steps[s.name] = entry
    now = int(started.timestamp())
    return {
        "pipeline": plan.pipeline,
        "run_id": execution_name,
        "params": plan.params,
        "now": str(now),
        "lock_expires_at": str(now + int(config["max_runtime_s"])),
        "steps": steps,
    }


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    return plan_payload(
        load_config(),
        event.get("params") or {},
        bucket=os.environ["ARTIFACT_BUCKET"],
        execution_id=str(event["execution_id"]),
        execution_name=str(event["execution_name"]),
        started_at=str(event["started_at"]),
        redshift_role=os.environ.get("REDSHIFT_ROLE_ARN") or None,
    )
