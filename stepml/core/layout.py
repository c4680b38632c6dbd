"""Where everything lives in an artifact store (a local directory or ``s3://bucket/prefix``).

    <pipeline>/steps/<step>/<key>/_manifest.json      the commit point of a step output: written last
    <pipeline>/steps/<step>/<key>/_manifest.head.json the manifest without its file list, written right after it:
                                                       what the state machine's cache check reads (a bounded size)
    <pipeline>/steps/<step>/<key>/<attempt>/...        the files of one attempt at computing the step
    <pipeline>/locks/<step>-<key>.json                 the step lock (local runs; AWS uses a DynamoDB item)
    <pipeline>/runs/<run_id>.json                      one run's record: what each step did
    <pipeline>/metrics/<stamp>-<run_id>.json           one run's metric history record (the check step's)
    <pipeline>/failures/<run_id>/<step>/logs/...       the logs of a failed attempt, kept for reading
    plans/<pipeline>/<execution>.json                  what a cloud execution's plan resolved (expire after 30 days)
    models/<model>/...                                 the model registry of a project (stepml.store.models)

Every key is built here, for the local runner, the cloud Lambdas and the CLI alike.
"""

from __future__ import annotations

import datetime as dt
import uuid

MANIFEST = "_manifest.json"
MANIFEST_HEAD = "_manifest.head.json"


def join(*parts: str) -> str:
    """Store keys are ``/``-joined and never start or end with ``/``."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def step_prefix(pipeline: str, step: str, key: str) -> str:
    return join(pipeline, "steps", step, key)


def manifest_key(pipeline: str, step: str, key: str) -> str:
    return join(step_prefix(pipeline, step, key), MANIFEST)


def manifest_head_key(pipeline: str, step: str, key: str) -> str:
    return join(step_prefix(pipeline, step, key), MANIFEST_HEAD)


def lock_key(pipeline: str, step: str, key: str) -> str:
    return join(pipeline, "locks", f"{step}-{key}.json")


def lock_id(pipeline: str, step: str, key: str) -> str:
    """The DynamoDB lock item's id in AWS (the same name as the local lock object, without the folder)."""
    return f"{pipeline}/{step}-{key}"


def run_key(pipeline: str, run_id: str) -> str:
    return join(pipeline, "runs", f"{run_id}.json")


def failure_prefix(pipeline: str, run_id: str, step: str) -> str:
    """Where the logs of a failed attempt are kept (its attempt folder is removed: no output survives)."""
    return join(pipeline, "failures", run_id, step)


def plan_record_key(pipeline: str, execution_name: str) -> str:
    """What a cloud execution's plan resolved (its lookups), for rebuilding its keys after the fact; a top-level
    prefix, so one lifecycle rule expires them (an execution can be redriven for 14 days)."""
    return join("plans", pipeline, f"{execution_name}.json")


def runs_prefix(pipeline: str) -> str:
    return join(pipeline, "runs")


def stamp(timestamp: float) -> str:
    """A UTC time stamp that sorts: ``20260501T030000``."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y%m%dT%H%M%S")


def attempt_id(timestamp: float, suffix: str | None = None) -> str:
    """The name of one attempt's directory under the step's key: ``<stamp>-<6 hex>``."""
    return f"{stamp(timestamp)}-{suffix or uuid.uuid4().hex[:6]}"


def run_id(timestamp: float) -> str:
    """A new local run id: ``<stamp>-<6 hex>`` (cloud runs are named after their execution)."""
    return attempt_id(timestamp)


def is_inside(prefix: str, root: str) -> bool:
    """Whether store key ``prefix`` lies under ``root`` (no ``..``, no absolute path, no empty part)."""
    parts = prefix.split("/")
    if not prefix or prefix.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return False
    return prefix == root or prefix.startswith(root.rstrip("/") + "/")
