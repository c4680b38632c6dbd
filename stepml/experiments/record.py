"""An experiment's first persisted record: the settings it started with, which later runs must keep.

``experiments/<name>/experiment.json`` in the artifact store (beside ``models/``: shared by the project's
pipelines), written once - exclusively - when the experiment first serves. Standard library only: the local
runner and the cloud plan Lambda both check it when a run is planned, before anything is served.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stepml.errors import ExperimentChangedError, Issue, StoreError
from stepml.experiments.assign import differences

SCHEMA = "stepml.experiment/1"
FIELDS = ("experiment", "kind", "unit", "salt", "layer", "offset", "weights")


def record_key(name: str) -> str:
    return f"experiments/{name}/experiment.json"


def parse(data: bytes, where: str) -> dict[str, Any]:
    """A stored record, its shape checked (a damaged record is a StoreError naming it, never a guess)."""
    try:
        record = json.loads(data)
    except ValueError as exc:
        raise StoreError(f"{where} is not valid JSON ({exc}); restore it or rename the experiment") from exc
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise StoreError(f"{where} is not an experiment record ({SCHEMA})")
    missing = [f for f in FIELDS if f not in record]
    if missing or not isinstance(record.get("weights"), dict):
        raise StoreError(f"{where} lacks {missing or ['weights']}; restore it or rename the experiment")
    return record


def new_record(settings: Mapping[str, Any], *, run_id: str, started_at: str, coverage: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        **{f: settings[f] for f in FIELDS},
        "first_run": run_id,
        "started_at": started_at,
        "coverage": coverage,
    }


def check(settings: Mapping[str, Any], record: Mapping[str, Any] | None, where: str) -> None:
    """Raise :class:`ExperimentChangedError` when the spec's settings differ from the persisted record's."""
    if record is None:
        return
    found = differences(record, settings)
    if not found:
        return
    name = str(settings["experiment"])
    issues = [
        Issue(
            f"experiments.{name}.{field}",
            f"experiment {name!r} has been running since {record.get('started_at', '?')} (run "
            f"{record.get('first_run', '?')}) with {field} {old!r}; the spec now says {new!r}. Changing it would move "
            f"units already assigned: keep it, or rename the experiment to start a new one (record: {where})",
        )
        for field, old, new in found
    ]
    raise ExperimentChangedError(issues)


def encode(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, indent=1).encode()


SERVED_SCHEMA = "stepml.experiment.served/1"


def served_key(name: str, run_id: str, key: str) -> str:
    """One object per serve that committed (S3-safe: no appends): where its assignments are, and when."""
    return f"experiments/{name}/served/{run_id}-{key}.json"


def served_entry(
    name: str, *, pipeline: str, step: str, key: str, run_id: str, at: str, assignments: str
) -> dict[str, Any]:
    return {
        "schema": SERVED_SCHEMA,
        "experiment": name,
        "pipeline": pipeline,
        "step": step,
        "key": key,
        "run_id": run_id,
        "at": at,
        "assignments": assignments,
    }


def serving_prefix(name: str) -> str:
    """Where an experiment's served tables are published: one partition per day (Athena's partition projection in
    AWS, ``served_date=YYYY-MM-DD``), one file per serve that computed it."""
    return f"serving/{name}"


def published_key(name: str, served_date: str, run_id: str, key: str) -> str:
    return f"{serving_prefix(name)}/served_date={served_date}/{run_id}-{key}.parquet"


def latest_key(name: str) -> str:
    """The pointer to the latest published serve (the serving side reads it, or the newest partition)."""
    return f"{serving_prefix(name)}/latest.json"


PUBLISHED = "published/serving.parquet"  # in a serve step's output: the serving table with string ids


def latest_entry(name: str, *, run_id: str, key: str, served_date: str, published: str) -> dict[str, Any]:
    return {
        "schema": "stepml.experiment.latest/1",
        "experiment": name,
        "run_id": run_id,
        "key": key,
        "served_date": served_date,
        "published": published,
    }
