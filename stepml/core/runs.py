"""Run records: what one run did, step by step (``<pipeline>/runs/<run_id>.json``).

Written by the local runner as the run goes and by the cloud notify Lambda when an execution ends, read by
``stepml status``, ``stepml.runs()`` and ``stepml.load(step, run=...)``. One status vocabulary for both:

    step: pending | running | cached | ran | failed | skipped
    run:  running | succeeded | failed | died (its process was killed; found by a later reader)

Schema ``stepml.run/1`` records (before step types were plugins) have the same fields and are still read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

RUN_SCHEMA = "stepml.run/2"
READABLE_SCHEMAS = ("stepml.run/1", RUN_SCHEMA)
STEP_STATUSES = ("pending", "running", "cached", "ran", "failed", "skipped")
RUN_STATUSES = ("running", "succeeded", "failed", "died")
DONE = ("cached", "ran")


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

    def to_json(self) -> dict[str, Any]:
        return {"schema": RUN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        if data.get("schema") not in READABLE_SCHEMAS:
            raise ValueError(f"not a run record: schema {data.get('schema')!r}")
        known = {f.name for f in fields(cls)} - {"steps"}
        step_fields = {f.name for f in fields(StepOutcome)}
        steps = [StepOutcome(**{k: v for k, v in s.items() if k in step_fields}) for s in data.get("steps", [])]
        return cls(**{k: v for k, v in data.items() if k in known}, steps=steps)

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for s in self.steps if s.status == k) for k in ("ran", "cached", "failed", "skipped")}
