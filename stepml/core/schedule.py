"""Schedules: when a pipeline runs by itself, which of its steps, with which parameters - and a run's date.

A pipeline declares schedules by name (``schedules:`` in the spec; the single ``schedule:`` of older specs is the
schedule named :data:`DEFAULT`). Each has a cron and time zone, parameters (a date parameter's value may be
relative to the run's date: ``run_date - 1 day``, see ``stepml.core.params``) and the steps it runs: targets,
with everything they need (steps already computed are cache hits); none named: every step.

A run's time is its schedule's **scheduled time** (EventBridge Scheduler puts it in the execution input) or, for a
run started by hand, when it started; its **run date** is that time's date in the schedule's time zone (UTC for a
run outside any schedule). :func:`run_of` turns an execution's input into what the plan needs - the parameters
given, the steps wanted, the run date - the same function for the cloud plan Lambda, the notify Lambda and
``stepml run --schedule`` locally. Pure standard library.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepml.errors import Issue, ParamError

DEFAULT = "default"  # the name of the schedule an older spec's single ``schedule:`` block declares
UTC = "UTC"  # the time zone of a run outside any schedule
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # EventBridge Scheduler's context attribute (replaced per run)


@dataclass(frozen=True)
class ScheduleRecord:
    """A schedule reduced to what a run needs (the Lambda config embeds it; the spec's ``ScheduleSpec`` has more)."""

    timezone: str = UTC
    params: dict[str, Any] = field(default_factory=dict)
    steps: tuple[str, ...] = ()  # targets; () = every step

    def to_json(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "params": dict(self.params), "steps": list(self.steps)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScheduleRecord:
        return cls(str(data.get("timezone", UTC)), dict(data.get("params") or {}), tuple(data.get("steps") or ()))


@dataclass(frozen=True)
class Run:
    """What an execution's input asks for: parameters given (before coercion), the steps wanted (None: every
    step), the run's date (run-date expressions are evaluated at it) and the schedule it belongs to."""

    params: dict[str, Any]
    targets: frozenset[str] | None
    run_date: dt.date
    schedule: str | None = None


def run_date(at: dt.datetime, timezone: str = UTC) -> dt.date:
    """The date of the instant ``at`` (timezone-aware) in ``timezone``."""
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone")
    zone = dt.UTC if timezone == UTC else zoneinfo.ZoneInfo(timezone)  # UTC needs no time zone database
    return at.astimezone(zone).date()


def parse_time(text: str) -> dt.datetime:
    """An ISO-8601 instant (``2026-05-01T18:00:00Z`` as Scheduler sends it, or with an offset); a time without a
    zone is a ValueError (which date it is depends on the zone)."""
    at = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (expected e.g. 2026-05-01T18:00:00Z or ...+09:00)")
    return at


def run_of(schedules: Mapping[str, ScheduleRecord], execution_input: Mapping[str, Any], started_at: dt.datetime) -> Run:
    """An execution's input ``{"params": {...}, "schedule": NAME, "scheduled_time": ISO}`` (all optional) as a
    :class:`Run`: the schedule's parameters overlaid with the input's, its steps, and the run's date - of the
    scheduled time, or of ``started_at`` without one - in its time zone. A bad input is a ``ParamError``."""
    given = execution_input.get("params")
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ParamError([Issue("params", f"the execution input's params must be an object, not {given!r:.80}")])
    name = execution_input.get("schedule")
    schedule = ScheduleRecord()
    if name is not None:
        if name not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            raise ParamError([Issue("schedule", f"unknown schedule {name!r}; the pipeline's schedules: {known}")])
        schedule = schedules[str(name)]
    at = started_at
    scheduled = execution_input.get("scheduled_time")
    if scheduled is not None:
        try:
            at = parse_time(str(scheduled))
        except ValueError as exc:
            raise ParamError([Issue("scheduled_time", f"{exc}; got {scheduled!r:.80}")]) from None
    return Run(
        params={**schedule.params, **given},
        targets=frozenset(schedule.steps) or None,
        run_date=run_date(at, schedule.timezone),
        schedule=None if name is None else str(name),
    )


def schedule_input(name: str, params: Mapping[str, Any]) -> str:
    """The execution input a schedule sends (``Target.Input``): its name, its parameters as written (run-date
    expressions evaluated by the plan) and the scheduled time, which Scheduler fills in at each invocation."""
    return json.dumps({"params": dict(params), "schedule": name, "scheduled_time": SCHEDULED_TIME}, sort_keys=True)
