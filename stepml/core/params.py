"""Typed run parameters: coerce command-line strings (or JSON values) to the types the spec declares.

Pure standard library, so the cloud plan Lambda validates an execution's input with the very same code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Protocol

from stepml.errors import Issue, ParamError

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class ParamDecl(Protocol):
    """What coercion needs to know about a declared parameter (``stepml.spec.ParamSpec`` or a plain record)."""

    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def choices(self) -> list[str] | None: ...


def coerce(type_: str, value: Any, decl: ParamDecl | None = None) -> Any:
    """Return ``value`` as ``type_`` (str|int|float|bool|date); raise ValueError saying what was expected."""
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
        if isinstance(value, dt.datetime):
            out = value.date()
        elif isinstance(value, dt.date):
            out = value
        else:
            try:
                out = dt.date.fromisoformat(str(value))
            except ValueError:
                raise ValueError(f"expected a date like 2026-05-01, got {value!r}") from None
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


def resolve(declared: Mapping[str, _Declared], given: Mapping[str, Any]) -> dict[str, Any]:
    """Declared defaults overlaid with ``given``, each coerced; every problem reported at once."""
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
            values[name] = coerce(decl.type, raw, decl)
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
