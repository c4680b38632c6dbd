"""Typed run parameters: coerce command-line strings (or JSON values) to the types the spec declares.

A date parameter's value (or default) may be relative to the run's date: ``run_date``, ``run_date - 1 day``,
``run_date + 2 weeks``. The run's date is the date of the run's time - a schedule's scheduled time, or when the run
started - in the schedule's time zone (UTC outside a schedule; ``stepml.core.schedule``); it is evaluated when the
run is planned, so the plan, the keys and the run record hold the concrete date.

Pure standard library, so the cloud plan Lambda validates an execution's input with the very same code.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

from stepml.errors import Issue, ParamError

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
RUN_DATE = "run_date"
_RELATIVE = re.compile(r"^run_date(?:\s*([+-])\s*(\d{1,5})\s*(days?|weeks?))?$")
_RELATIVE_HELP = "a run-date expression: run_date, run_date - N days, run_date + N weeks"
# words that read like a date to a person but name no time zone or run: pointed at run_date
_VAGUE = {"today", "now", "yesterday", "tomorrow", "current_date"}
VALIDATION_DATE = dt.date(2000, 1, 1)  # the run date expressions are evaluated at to validate them (spec, synth)


def relative_days(value: Any) -> int | None:
    """The offset in days of a run-date expression (``run_date - 1 day`` -> -1); None when ``value`` is not one.
    A string that starts like one but is malformed (or a vague word such as ``today``) is a ValueError."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "aws.scheduler." in text:  # a Scheduler context attribute: every scheduled run already passes its time
        raise ValueError(
            f"expected a date like 2026-05-01, got {value!r}: a scheduled run's date is run_date (its scheduled "
            "time, in the schedule's time zone), e.g. run_date - 1 day"
        )
    if text.lower() in _VAGUE:
        raise ValueError(
            f"expected a date like 2026-05-01, got {value!r}: a date relative to the run is run_date (the run's date "
            "in its schedule's time zone), e.g. run_date - 1 day"
        )
    if not text.startswith(RUN_DATE):
        return None
    m = _RELATIVE.match(text)
    if m is None:
        raise ValueError(f"expected a date like 2026-05-01 or {_RELATIVE_HELP}, got {value!r}")
    if m.group(1) is None:
        return 0
    n = int(m.group(2)) * (7 if m.group(3).startswith("week") else 1)
    return -n if m.group(1) == "-" else n


class ParamDecl(Protocol):
    """What coercion needs to know about a declared parameter (``stepml.spec.ParamSpec`` or a plain record)."""

    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def choices(self) -> list[str] | None: ...


def coerce(type_: str, value: Any, decl: ParamDecl | None = None, *, run_date: dt.date | None = None) -> Any:
    """Return ``value`` as ``type_`` (str|int|float|bool|date); raise ValueError saying what was expected. A date
    may be a run-date expression, evaluated at ``run_date`` (an error where the run's date is not known)."""
    out: Any
    if type_ == "str":
        out = str(value)
    elif type_ == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            out = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
    elif type_ == "float":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(out):
            raise ValueError(f"expected a finite number, got {value!r}")
    elif type_ == "bool":
        if isinstance(value, bool):
            out = value
        elif str(value).strip().lower() in _TRUE:
            out = True
        elif str(value).strip().lower() in _FALSE:
            out = False
        else:
            raise ValueError(f"expected true or false, got {value!r}")
    elif type_ == "date":
        days = relative_days(value)
        if isinstance(value, dt.datetime):
            out = value.date()
        elif isinstance(value, dt.date):
            out = value
        elif days is not None:
            if run_date is None:
                raise ValueError(f"{value!r} is relative to the run's date, which is not known here")
            out = run_date + dt.timedelta(days=days)
        else:
            try:
                out = dt.date.fromisoformat(str(value))
            except ValueError:
                raise ValueError(f"expected a date like 2026-05-01, got {value!r} (or {_RELATIVE_HELP})") from None
    else:
        raise ValueError(f"unknown parameter type {type_!r}")
    if decl is not None:
        if decl.min is not None and isinstance(out, int | float) and out < decl.min:
            raise ValueError(f"must be >= {decl.min:g}, got {out!r}")
        if decl.max is not None and isinstance(out, int | float) and out > decl.max:
            raise ValueError(f"must be <= {decl.max:g}, got {out!r}")
        if decl.choices is not None and str(out) not in decl.choices:
            raise ValueError(f"must be one of {decl.choices}, got {out!r}")
    return out


class _Declared(ParamDecl, Protocol):
    @property
    def type(self) -> str: ...
    @property
    def default(self) -> Any: ...


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["as_of=2026-05-01", ...]`` -> dict; a malformed item is a ParamError."""
    out: dict[str, str] = {}
    issues = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            issues.append(Issue(f"--param {item}", "expected key=value"))
            continue
        out[key.strip()] = value
    if issues:
        raise ParamError(issues)
    return out


def resolve(
    declared: Mapping[str, _Declared], given: Mapping[str, Any], *, run_date: dt.date | None = None
) -> dict[str, Any]:
    """Declared defaults overlaid with ``given``, each coerced (run-date expressions evaluated at ``run_date``);
    every problem reported at once."""
    issues: list[Issue] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in declared:
            issues.append(
                Issue(f"param {name}", f"unknown parameter; declared: {', '.join(sorted(declared)) or 'none'}")
            )
    for name, decl in declared.items():
        raw = given.get(name, decl.default)
        if raw is None:
            issues.append(Issue(f"param {name}", f"required ({decl.type}); pass --param {name}=..."))
            continue
        try:
            values[name] = coerce(decl.type, raw, decl, run_date=run_date)
        except ValueError as exc:
            issues.append(Issue(f"param {name}", f"{exc} ({decl.type})"))
    if issues:
        raise ParamError(issues)
    return values


def to_json(value: Any) -> Any:
    """A parameter value in its canonical JSON form (dates as ISO strings)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
