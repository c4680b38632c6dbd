"""What ``stepml gc`` may remove: step outputs nothing still refers to. Pure; the store side is ``stepml.app``.

An output (``<pipeline>/steps/<step>/<key>``) is kept when
- a run recorded it and that run started within the retention window, or is still running - and so is every
  output its manifest names as a parent, recursively (the chain a ``stepml.load`` or a rerun would read);
- the model registry holds a version trained at it (``train_key``), or a lock on it is held.
Everything else under ``<pipeline>/steps/`` goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Output = tuple[str, str]  # (step, key)


@dataclass(frozen=True)
class Collection:
    keep: dict[Output, str]  # why each kept output is kept
    remove: list[Output]


def referenced(
    runs: Iterable[Mapping[str, Any]],
    parents: Callable[[str, str], Mapping[str, str]],
    *,
    now: float,
    retention_s: float,
) -> dict[Output, str]:
    """Outputs the recent (or running) runs refer to, with their manifests' parent chains; output -> why."""
    out: dict[Output, str] = {}
    stack: list[tuple[Output, str]] = []
    for run in runs:
        recent = float(run.get("started_at", 0)) >= now - retention_s
        if not (recent or run.get("status") == "running"):
            continue
        for s in run.get("steps", []):
            stack.append(((str(s["name"]), str(s["key"])), f"run {run['run_id']}"))
    while stack:
        output, why = stack.pop()
        if output in out:
            continue
        out[output] = why
        for step, key in parents(*output).items():
            stack.append(((str(step), str(key)), f"{why} (upstream of {output[0]})"))
    return out


def collect(
    existing: Iterable[Output],
    runs: Iterable[Mapping[str, Any]],
    parents: Callable[[str, str], Mapping[str, str]],
    *,
    pinned: Mapping[Output, str],
    now: float,
    retention_s: float,
) -> Collection:
    """Split ``existing`` outputs into kept ones (with the reason) and the ones to remove."""
    refs = referenced(runs, parents, now=now, retention_s=retention_s)
    keep: dict[Output, str] = {}
    remove: list[Output] = []
    for output in sorted(set(existing)):
        why = pinned.get(output) or refs.get(output)
        if why:
            keep[output] = why
        else:
            remove.append(output)
    return Collection(keep=keep, remove=remove)


def run_started(run_id: str) -> float | None:
    """When a run started, from its id (``20260501T030000-1a2b3c``, UTC); None for an id of another shape."""
    import calendar
    import time

    try:
        return float(calendar.timegm(time.strptime(run_id[:15], "%Y%m%dT%H%M%S")))
    except ValueError:
        return None


def old_runs(runs: Iterable[Mapping[str, Any]], *, now: float, retention_s: float, keep_last: int) -> list[str]:
    """Run records past the retention window - never a running one, never one of the newest ``keep_last``."""
    ordered = sorted(runs, key=lambda r: float(r.get("started_at", 0)))
    newest = {str(r["run_id"]) for r in ordered[-keep_last:]} if keep_last > 0 else set()
    return [
        str(r["run_id"])
        for r in ordered
        if r.get("status") != "running"
        and str(r["run_id"]) not in newest
        and float(r.get("started_at", 0)) < now - retention_s
    ]


def old_failures(run_ids: Iterable[str], *, now: float, retention_s: float) -> list[str]:
    """Failure logs (``<pipeline>/failures/<run_id>/``) of runs that started before the retention window."""
    return [r for r in run_ids if (t := run_started(r)) is not None and t < now - retention_s]


def old_days(days: Iterable[str], *, today: str, retention_days: float, keep: Iterable[str] = ()) -> list[str]:
    """``YYYY-MM-DD`` partitions (an online test's published serving tables) older than the retention window, but
    those in ``keep`` (the latest)."""
    import datetime as dt

    cutoff = dt.date.fromisoformat(today) - dt.timedelta(days=retention_days)
    kept = set(keep)
    out = []
    for day in days:
        try:
            when = dt.date.fromisoformat(day)
        except ValueError:
            continue
        if when < cutoff and day not in kept:
            out.append(day)
    return out
