"""Alarms declared in the spec (``stepml.spec.AlarmSpec``), evaluated locally over the metric history with
CloudWatch's semantics. Standard library only (a cached run's summary calls it).

The same declarations are compiled to CloudWatch alarms by the CDK stacks; this module mirrors what CloudWatch
does with them:

* **Series.** An alarm reads metric ``metric`` in namespace ``stepml`` with dimensions
  ``{"Pipeline": <pipeline>} | alarm.dimensions``; datapoints published with an extra ``Step`` dimension match too
  (the check step publishes every metric with and without ``Step``).
* **Periods.** Time is cut into periods of ``period_minutes`` aligned to the epoch (UTC); each period's value is
  ``statistic`` (Average, Sum, Minimum, Maximum, SampleCount) over its datapoints; a period without datapoints is
  missing.
* **M out of N.** At each evaluation the last N = ``evaluation_periods`` periods (the one holding ``now``
  included) are read; the alarm is ALARM when at least M = ``datapoints_to_alarm`` (default N) of them breach
  ``comparison threshold``.
* **Missing data** (``treat_missing_data``): ``breaching`` / ``notBreaching`` fill missing periods with a
  breaching / good value; ``missing`` and ``ignore`` judge the datapoints present: ALARM if at least M breach,
  otherwise OK - except when every period is missing, where ``missing`` goes to INSUFFICIENT_DATA and
  ``ignore`` keeps the current state; with some periods missing and too few datapoints to rule out ALARM,
  ``ignore`` keeps the current state too.
* **State over time.** An alarm starts in INSUFFICIENT_DATA and is evaluated once per period from the first
  period with a datapoint of any metric of the pipeline up to ``now``, so ``ignore`` keeps what the previous
  evaluation decided.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_SYMBOL = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class PeriodValue:
    start: float  # epoch seconds
    value: float | None  # None: missing
    breaching: bool | None  # None: missing (and not filled)
    samples: int = 0
    runs: tuple[str, ...] = ()


@dataclass
class AlarmState:
    name: str
    metric: str
    state: State
    reason: str
    condition: str  # e.g. "Maximum(MaxNullFraction) > 0.05 for 1 of 1 period(s) of 1440 min"
    treat_missing_data: str
    datapoints: list[PeriodValue] = field(default_factory=list)  # the N periods of the last evaluation
    history: list[tuple[float, State]] = field(default_factory=list)  # state transitions (period start, state)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "state": self.state,
            "reason": self.reason,
            "condition": self.condition,
            "treat_missing_data": self.treat_missing_data,
            "datapoints": [
                {
                    "start": p.start,
                    "value": p.value,
                    "breaching": p.breaching,
                    "samples": p.samples,
                    "runs": list(p.runs),
                }
                for p in self.datapoints
            ],
            "transitions": [{"start": t, "state": s} for t, s in self.history],
        }


def matching_samples(records: Iterable[Mapping[str, Any]], alarm: Any, pipeline: str) -> list[tuple[float, float, str]]:
    """(timestamp, value, run id) of the history datapoints in the alarm's series."""
    want = {"Pipeline": pipeline, **dict(alarm.dimensions)}
    out = []
    for rec in records:
        ts = float(rec.get("timestamp", 0))
        for d in rec.get("datapoints", []):
            if d.get("metric") != alarm.metric:
                continue
            dims = d.get("dimensions", {})
            if any(dims.get(k) != v for k, v in want.items()):
                continue
            if set(dims) - set(want) - {"Step"}:
                continue
            value = d.get("value")
            if isinstance(value, int | float) and math.isfinite(value):
                out.append((ts, float(value), str(rec.get("run_id", ""))))
    return out


def aggregate(values: Sequence[float], statistic: str) -> float:
    if statistic == "Average":
        return sum(values) / len(values)
    if statistic == "Sum":
        return float(sum(values))
    if statistic == "Minimum":
        return min(values)
    if statistic == "Maximum":
        return max(values)
    return float(len(values))  # SampleCount


def evaluate_alarm(
    alarm: Any, records: Sequence[Mapping[str, Any]], *, pipeline: str, now: float | None = None
) -> AlarmState:
    """The alarm's state at ``now`` (default: the current time) over the history ``records``."""
    now = time.time() if now is None else now
    period = alarm.period_minutes * 60
    n = alarm.evaluation_periods
    m = alarm.datapoints_to_alarm or n
    compare = _COMPARE[alarm.comparison]
    condition = (
        f"{alarm.statistic}({alarm.metric}) {_SYMBOL[alarm.comparison]} {alarm.threshold:g} "
        f"for {m} of {n} period(s) of {alarm.period_minutes} min"
    )
    samples = matching_samples(records, alarm, pipeline)
    by_period: dict[int, list[tuple[float, str]]] = {}
    for ts, value, run in samples:
        by_period.setdefault(int(ts // period), []).append((value, run))
    starts = [int(float(r.get("timestamp", 0)) // period) for r in records if r.get("timestamp") is not None]
    state: State = "INSUFFICIENT_DATA"
    reason = "no datapoints yet"
    transitions: list[tuple[float, State]] = []
    window: list[PeriodValue] = []
    current = int(now // period)
    if not starts:
        return AlarmState(alarm.name, alarm.metric, state, reason, condition, alarm.treat_missing_data)
    first = min(*starts, current)
    for k in range(first, current + 1):
        window = []
        for j in range(k - n + 1, k + 1):
            got = by_period.get(j)
            if got:
                value = aggregate([v for v, _ in got], alarm.statistic)
                window.append(
                    PeriodValue(j * period, value, compare(value, alarm.threshold), len(got), tuple(r for _, r in got))
                )
            else:
                window.append(PeriodValue(j * period, None, None))
        new_state, reason = _decide(window, m, n, alarm.treat_missing_data, state)
        if new_state != state or not transitions:
            transitions.append((k * period, new_state))
        state = new_state
    return AlarmState(alarm.name, alarm.metric, state, reason, condition, alarm.treat_missing_data, window, transitions)


def _decide(window: list[PeriodValue], m: int, n: int, treat: str, previous: State) -> tuple[State, str]:
    present = [p for p in window if p.breaching is not None]
    breaching = sum(1 for p in present if p.breaching)
    missing = n - len(present)
    if treat in ("breaching", "notBreaching"):
        filled = breaching + (missing if treat == "breaching" else 0)
        note = (
            f" ({missing} missing treated as {'breaching' if treat == 'breaching' else 'not breaching'})"
            if missing
            else ""
        )
        if filled >= m:
            return "ALARM", f"{filled} of {n} period(s) breaching{note}"
        return "OK", f"{filled} of {n} period(s) breaching{note}"
    if not present:
        if treat == "missing":
            return "INSUFFICIENT_DATA", f"no datapoints in the last {n} period(s)"
        return previous, f"no datapoints in the last {n} period(s); state kept (ignore)"
    if breaching >= m:
        return "ALARM", f"{breaching} of {len(present)} datapoint(s) breaching ({missing} missing)"
    if treat == "ignore" and missing and breaching + missing >= m:
        return previous, f"{breaching} breaching, {missing} missing: not enough data to decide; state kept (ignore)"
    return "OK", f"{breaching} of {len(present)} datapoint(s) breaching" + (f" ({missing} missing)" if missing else "")


def evaluate_alarms(
    alarms: Sequence[Any], records: Sequence[Mapping[str, Any]], *, pipeline: str, now: float | None = None
) -> list[AlarmState]:
    return [evaluate_alarm(a, records, pipeline=pipeline, now=now) for a in alarms]
