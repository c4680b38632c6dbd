"""The plan Lambda: the execution's parameters -> every step's key, prefixes, lock id and its type's entries.

The execution input (``{"params", "schedule", "scheduled_time"}``, see :func:`stepml.core.schedule.run_of`) gives
the parameters, the steps the run wants and the run's date. It calls :func:`stepml.core.plan.make_plan` on the
embedded :class:`~stepml.core.plan.PlanInput` - the same
function and the same record the local runner uses - so local and cloud keys are equal for the same spec and
parameters. A step type may add to its step's entry (``plan_entry`` of its cloud facet: an extract's rendered
UNLOAD statement, a training job's name). Invalid parameters raise ``ParamError`` (the state machine's Catch
reports it). Output (kept small)::

    {"pipeline", "run_id", "params", "run_date", "schedule", "now", "lock_expires_at",
     "steps": {name: {"type", "key", "prefix", "manifest_key", "head_key", "lock_id", "attempt", "uri", ...}},
     "cached": {name: result}}   # only when every wanted step is committed (stepml.cloud.handlers.fastpath)

``steps`` holds only the steps the run wants (the state machine skips the others).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from stepml.cloud.handlers._config import load_config, type_facet
from stepml.cloud.handlers.context import PlanContext
from stepml.cloud.handlers.fastpath import cached_results, s3_reader
from stepml.core import layout
from stepml.core.plan import PlanInput, Resolver, make_plan
from stepml.core.schedule import Run, ScheduleRecord, run_of
from stepml.errors import Issue, ParamError


def _started(started_at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(started_at.replace("Z", "+00:00")).astimezone(dt.UTC)


def schedules(config: Mapping[str, Any]) -> dict[str, ScheduleRecord]:
    """The pipeline's schedules, as the Lambda config embeds them."""
    return {n: ScheduleRecord.from_json(s) for n, s in (config.get("schedules") or {}).items()}


def run_of_execution(config: Mapping[str, Any], execution_input: Any, started_at: str) -> Run:
    """What an execution's input asks for (``stepml.core.schedule.run_of``): the same for the plan and notify
    Lambdas, so the notify Lambda's record holds the plan's parameters and steps."""
    if not isinstance(execution_input, Mapping):
        raise ParamError([Issue("input", f"the execution input must be an object, not {execution_input!r:.80}")])
    return run_of(schedules(config), execution_input, _started(started_at))


def plan_payload(
    config: Mapping[str, Any],
    params: Any,  # the execution input's ``params``: an object, checked here
    *,
    bucket: str,
    execution_id: str,
    execution_name: str,
    started_at: str,
    environment: Mapping[str, str] | None = None,
    resolve: Resolver | None = None,
    run: Run | None = None,  # the run's date and steps (a schedule's); None: every step, the start's UTC date
) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ParamError([Issue("params", f"the execution input's params must be an object, not {params!r:.80}")])
    started = _started(started_at)
    run = run or Run(dict(params), None, started.date())
    pinput = PlanInput.from_json(config["plan_input"])
    plan = make_plan(pinput, params, resolve, run_date=run.run_date, targets=run.targets)
    suffix = hashlib.sha256(execution_id.encode()).hexdigest()[:6]
    stamp = started.strftime("%Y%m%dT%H%M%S")
    steps: dict[str, dict[str, Any]] = {}
    for s in plan.steps:
        prefix = layout.step_prefix(plan.pipeline, s.name, s.key)
        attempt = layout.join(prefix, f"{stamp}-{suffix}")
        entry: dict[str, Any] = {
            "type": s.type,
            "key": s.key,
            "prefix": prefix,
            "manifest_key": layout.manifest_key(plan.pipeline, s.name, s.key),
            "head_key": layout.manifest_head_key(plan.pipeline, s.name, s.key),
            "lock_id": layout.lock_id(plan.pipeline, s.name, s.key),
            "attempt": attempt,
            "uri": f"s3://{bucket}/{attempt}",
        }
        if s.resolved is not None:
            entry["resolved"] = s.resolved
        facet = type_facet(config, s.name)
        if hasattr(facet, "plan_entry"):
            ctx = PlanContext(
                s, plan, config["steps"][s.name], config, entry, bucket, suffix, stamp, dict(environment or {})
            )
            entry.update(facet.plan_entry(ctx))
        steps[s.name] = entry
    now = int(started.timestamp())
    return {
        "pipeline": plan.pipeline,
        "run_id": execution_name,
        "params": plan.params,
        "run_date": run.run_date.isoformat(),
        "schedule": run.schedule,
        "now": str(now),
        "lock_expires_at": str(now + int(config["max_runtime_s"])),
        "steps": steps,
    }


def resolver(
    config: Mapping[str, Any],
    environment: Mapping[str, str],
    started_at: str,
    by_kind: dict[str, Resolver] | None = None,
) -> Resolver | None:
    """What the plan's lookups find: models in their SageMaker model package groups, anything else by the step's
    type (an extract's data version: its cloud facet's ``lookup_resolver``); ``by_kind`` answers some kinds
    instead (a test rig whose warehouse is a DuckDB file). None when no step looks anything up."""
    steps = [s for s in config["plan_input"]["steps"] if s.get("lookup")]
    if not steps:
        return None
    import boto3

    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(service)  # type: ignore[call-overload]
        return clients[service]

    by_kind = dict(by_kind or {})

    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        kind = str(lookup.get("kind", "model"))
        if kind not in by_kind:
            if kind == "model":
                from stepml.cloud.handlers.models import GROUP_PREFIX_ENV, sagemaker_resolver

                by_kind[kind] = sagemaker_resolver(client("sagemaker"), environment[GROUP_PREFIX_ENV])
            else:
                facet = type_facet(config, step)
                by_kind[kind] = facet.lookup_resolver(client, config, environment, started_at)
        return by_kind[kind](step, lookup, upstream)

    return resolve


def handler(
    event: Mapping[str, Any], context: Any = None, *, resolvers: dict[str, Resolver] | None = None
) -> dict[str, Any]:
    config = load_config()
    started_at = str(event["started_at"])
    run = run_of_execution(config, event.get("input", {"params": event.get("params")}), started_at)
    payload = plan_payload(
        config,
        run.params,
        run=run,
        bucket=os.environ["ARTIFACT_BUCKET"],
        execution_id=str(event["execution_id"]),
        execution_name=str(event["execution_name"]),
        started_at=started_at,
        environment=os.environ,
        resolve=resolver(config, os.environ, started_at, resolvers),
    )
    import boto3

    bucket = os.environ["ARTIFACT_BUCKET"]
    cached = cached_results(s3_reader(boto3.client("s3"), bucket), payload["pipeline"], payload["steps"])
    if cached is not None:  # every step is committed: the state machine's fast path (stepml.cloud.handlers.fastpath)
        left_out = [s["name"] for s in config["plan_input"]["steps"] if s["name"] not in payload["steps"]]
        payload["cached"] = cached | {s: {"skipped": True} for s in left_out}  # as "<s>: not in this run" gives
    resolved = {n: e["resolved"] for n, e in payload["steps"].items() if "resolved" in e}
    if resolved:  # the notify Lambda rebuilds the run's keys from it (the champion may move during the run)
        import json

        key = layout.plan_record_key(payload["pipeline"], payload["run_id"])
        body = json.dumps({"params": payload["params"], "resolved": resolved}).encode()
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return payload
