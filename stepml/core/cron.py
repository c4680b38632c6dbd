"""Cron expressions: validate the 5-field form used in pipeline.yaml and convert it for EventBridge Scheduler.

Pure standard library. ``minute hour day-of-month month day-of-week`` with ``*``, lists, ranges, steps and
month/day names. EventBridge needs 6 fields and ``?`` in one of the day fields; :func:`to_eventbridge` does that.
"""

from __future__ import annotations

_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
        },
    ),
    ("day-of-week", 0, 7, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)


def _value(token: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    token_l = token.lower()
    if token_l in names:
        return names[token_l]
    if not token.isdigit():
        raise ValueError(f"cron {field}: {token!r} is not a number{' or name' if names else ''}")
    v = int(token)
    if not lo <= v <= hi:
        raise ValueError(f"cron {field}: {v} is outside {lo}-{hi}")
    return v


def validate_cron(expr: str) -> None:
    """Raise ValueError naming the bad field if ``expr`` is not a valid 5-field cron expression."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"cron must have 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}: {expr!r}"
        )
    for part, (field, lo, hi, names) in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            base, slash, step = item.partition("/")
            if slash and (not step.isdigit() or int(step) == 0):
                raise ValueError(f"cron {field}: step {step!r} must be a positive number")
            if base == "*":
                continue
            a, dash, b = base.partition("-")
            start = _value(a, lo, hi, names, field)
            if dash:
                end = _value(b, lo, hi, names, field)
                if end < start:
                    raise ValueError(f"cron {field}: range {base!r} runs backwards")


def to_eventbridge(expr: str) -> str:
    """``0 3 * * *`` -> ``cron(0 3 * * ? *)`` (EventBridge's 6-field form, 1-7 = SUN-SAT day numbers)."""
    validate_cron(expr)
    minute, hour, dom, month, dow = expr.split()
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
        dow = ",".join(_shift_dow(item) for item in dow.split(","))
    else:
        raise ValueError("EventBridge cannot restrict both day-of-month and day-of-week; set one of them to *")
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def _shift_dow(item: str) -> str:
    """A cron day-of-week item (0-7, SUN-SAT, ranges, steps) -> EventBridge day numbers (1-7 = SUN-SAT)."""
    names = _FIELDS[4][3]
    base, slash, step = item.partition("/")
    if base == "*":
        days = list(range(7))
    else:
        a, dash, b = base.partition("-")
        lo = names.get(a.lower(), int(a) if a.isdigit() else 0)
        hi = names.get(b.lower(), int(b) if b.isdigit() else 0) if dash else (6 if slash else lo)
        days = list(range(lo, hi + 1))
    if slash:
        days = days[:: int(step)]
    return ",".join(str(d) for d in sorted({d % 7 + 1 for d in days}))
