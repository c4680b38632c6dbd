"""Run records: what one run did, step by step (``<pipeline>/runs/<run_id>.json``).

Written by the local runner as the run goes and by the cloud notify Lambda when an execution ends, read by
``stepml status``, ``stepml.runs()`` and ``stepml.load(step, run=...)``. One status vocabulary for both:

    step: pending | running | cached | ran | failed | skipped
    run:  running | succeeded | failed | died (its process was killed; found by a later reader)

Schema ``stepml.run/1`` records (before step types were plugins) have the same fields and are still read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

RUN_SCHEMA = "stepml.run/2"
READABLE_SCHEMAS = ("stepml.run/1", RUN_SCHEMA)
STEP_STATUSES = ("pending", "running", "cached", "ran", "failed", "skipped")
RUN_STATUSES = ("running", "succeeded", "failed", "died")
DONE = ("cached", "ran")
HEARTBEAT_S = 30.0  # how often a local run renews its record's heartbeat
STALE_AFTER_S = 300.0  # a heartbeat older than this: the run died (read from another host)


@dataclass
class StepOutcome:
    name: str
    type: str
    key: str
    status: str = "pending"
    duration_s: float = 0.0
    waited_s: float = 0.0
    output: str | None = None
    rows: int | None = None
    detail: str = ""
    error: str | None = None
    error_type: str | None = None


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    params: dict[str, Any]
    root: str
    started_at: float
    finished_at: float | None = None
    status: str = "running"
    steps: list[StepOutcome] = field(default_factory=list)
    execution_arn: str | None = None  # runs in AWS: the Step Functions execution (written by the notify Lambda)
    host: str | None = None  # local runs: where the runner ran, and its pid (a reader can tell it died)
    pid: int | None = None
    pid_started: float | None = None  # the runner process's start time: a reused pid is not the run
    heartbeat_at: float | None = None  # local runs: renewed while the run lives (a reader on another host can tell)

    def to_json(self) -> dict[str, Any]:
        return {"schema": RUN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """The record in ``data``; ValueError naming what is wrong when it is not a run record."""
        found = problems(data)
        if found:
            raise ValueError("not a run record: " + "; ".join(found))
        known = {f.name for f in fields(cls)} - {"steps"}
        step_fields = {f.name for f in fields(StepOutcome)}
        steps = [StepOutcome(**{k: v for k, v in s.items() if k in step_fields}) for s in data.get("steps", [])]
        return cls(**{k: v for k, v in data.items() if k in known}, steps=steps)

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def observed(
        self, alive: Callable[[str, int, float | None], bool | None], *, now: float | None = None
    ) -> RunRecord:
        """This record as a reader should report it: a ``running`` run whose process ``alive(host, pid,
        pid_started)`` says is gone (False; None: cannot tell, another host) or, on another host, whose heartbeat
        is older than ``STALE_AFTER_S``, is ``died``, its running steps ``failed``."""
        if self.status != "running" or self.host is None or self.pid is None:
            return self
        living = alive(self.host, self.pid, self.pid_started)
        if living is None and self.heartbeat_at is not None:
            living = (time.time() if now is None else now) - self.heartbeat_at <= STALE_AFTER_S
        if living is not False:
            return self
        steps = [
            replace(s, status="failed", error="the run's process died") if s.status == "running" else s
            for s in self.steps
        ]
        return replace(self, status="died", steps=steps)

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for s in self.steps if s.status == k) for k in ("ran", "cached", "failed", "skipped")}


_RUN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "pipeline": str,
    "params": dict,
    "root": str,
    "started_at": (int, float),
    "status": str,
    "steps": list,
}


def problems(data: Any) -> list[str]:
    """Why ``data`` is not a readable run record (empty: it is)."""
    if not isinstance(data, dict):
        return [f"not a JSON object but {type(data).__name__}"]
    if data.get("schema") not in READABLE_SCHEMAS:
        return [f"schema {data.get('schema')!r} is not one of {list(READABLE_SCHEMAS)}"]
    out = [
        f"field {k!r} is missing or of the wrong type" for k, t in _RUN_FIELDS.items() if not isinstance(data.get(k), t)
    ]
    if not out and data["status"] not in RUN_STATUSES:
        out.append(f"status {data['status']!r} is not one of {list(RUN_STATUSES)}")
    for s in data.get("steps") or []:
        if not (isinstance(s, dict) and all(isinstance(s.get(k), str) for k in ("name", "type", "key"))):
            out.append(f"a step entry is malformed: {str(s)[:80]}")
            break
        if s.get("status", "pending") not in STEP_STATUSES:
            out.append(f"step {s['name']!r} has status {s.get('status')!r}")
            break
    return out
