"""Typed run parameters: coercion, bounds, choices, and every problem reported at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from stepml.core.params import coerce, parse_assignments, resolve, to_json
from stepml.errors import ParamError


@dataclass(frozen=True)
class Decl:
    """A plain record satisfying the params protocols (as the plan's ParamRecord does)."""

    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None


# ---------------------------------------------------------------- coerce: accepted
@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("str", "hello", "hello"),
        ("str", 42, "42"),
        ("int", "3", 3),
        ("int", " 12 ", 12),
        ("int", "-4", -4),
        ("int", 7, 7),
        ("int", 3.0, 3),
        ("float", "3.5", 3.5),
        ("float", "1e-3", 0.001),
        ("float", 2, 2.0),
        ("bool", "true", True),
        ("bool", "Yes", True),
        ("bool", " on ", True),
        ("bool", "1", True),
        ("bool", "false", False),
        ("bool", "NO", False),
        ("bool", "0", False),
        ("bool", False, False),
        ("date", "2026-05-01", dt.date(2026, 5, 1)),
        ("date", dt.date(2026, 5, 1), dt.date(2026, 5, 1)),
        ("date", dt.datetime(2026, 5, 1, 13, 30), dt.date(2026, 5, 1)),
    ],
)
def test_coerce_accepts(type_: str, value: Any, expected: Any) -> None:
    got = coerce(type_, value)
    assert got == expected
    assert type(got) is type(expected)


# ---------------------------------------------------------------- coerce: rejected
@pytest.mark.parametrize(
    ("type_", "value", "fragment"),
    [
        ("int", "3.5", "expected an integer, got '3.5'"),
        ("int", 3.5, "expected an integer, got 3.5"),
        ("int", "three", "expected an integer"),
        ("int", True, "expected an integer, got True"),
        ("int", "", "expected an integer"),
        ("float", "nan", "expected a finite number, got 'nan'"),
        ("float", "inf", "expected a finite number"),
        ("float", "-Infinity", "expected a finite number"),
        ("float", "abc", "expected a number, got 'abc'"),
        ("float", False, "expected a number, got False"),
        ("bool", "maybe", "expected true or false, got 'maybe'"),
        ("bool", 2, "expected true or false, got 2"),
        ("date", "2026-13-01", "expected a date like 2026-05-01, got '2026-13-01'"),
        ("date", "yesterday", "expected a date like"),
        ("date", "2026/05/01", "expected a date like"),
        ("date", "", "expected a date like"),
        ("decimal", "1", "unknown parameter type 'decimal'"),
    ],
)
def test_coerce_rejects(type_: str, value: Any, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        coerce(type_, value)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- bounds and choices
@pytest.mark.parametrize(
    ("decl", "value", "expected"),
    [
        (Decl("int", min=7, max=3650), "7", 7),
        (Decl("int", min=7, max=3650), "3650", 3650),
        (Decl("float", min=0, max=1), "0.5", 0.5),
        (Decl("str", choices=["a", "b"]), "b", "b"),
        (Decl("int", choices=["1", "2"]), "2", 2),
    ],
)
def test_bounds_and_choices_accept(decl: Decl, value: str, expected: Any) -> None:
    assert coerce(decl.type, value, decl) == expected


@pytest.mark.parametrize(
    ("decl", "value", "fragment"),
    [
        (Decl("int", min=7, max=3650), "6", "must be >= 7, got 6"),
        (Decl("int", min=7, max=3650), "3651", "must be <= 3650, got 3651"),
        (Decl("float", min=0, max=1), "1.5", "must be <= 1, got 1.5"),
        (Decl("float", min=0.5), "0.25", "must be >= 0.5, got 0.25"),
        (Decl("str", choices=["a", "b"]), "c", "must be one of ['a', 'b'], got 'c'"),
        (Decl("int", choices=["1", "2"]), "3", "must be one of ['1', '2'], got 3"),
    ],
)
def test_bounds_and_choices_reject(decl: Decl, value: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        coerce(decl.type, value, decl)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- resolve
DECLARED = {
    "as_of": Decl("date", default="2026-05-01"),
    "lookback_days": Decl("int", default=180, min=7, max=3650),
    "mode": Decl("str", default="full", choices=["full", "delta"]),
}


def test_resolve_uses_defaults_and_coerces_given_values() -> None:
    # Given a command-line string for one parameter / When resolved
    got = resolve(DECLARED, {"lookback_days": "90"})
    # Then the others take their (coerced) defaults
    assert got == {"as_of": dt.date(2026, 5, 1), "lookback_days": 90, "mode": "full"}


def test_resolve_unknown_parameter() -> None:
    with pytest.raises(ParamError) as info:
        resolve(DECLARED, {"as_off": "2026-01-01"})
    [issue] = info.value.issues
    assert issue.where == "param as_off"
    assert "unknown parameter; declared: as_of, lookback_days, mode" in issue.message


def test_resolve_unknown_parameter_when_none_declared() -> None:
    with pytest.raises(ParamError) as info:
        resolve({}, {"x": "1"})
    assert info.value.issues[0].message.endswith("declared: none")


def test_resolve_missing_required_parameter() -> None:
    declared = {"run_date": Decl("date")}
    with pytest.raises(ParamError) as info:
        resolve(declared, {})
    [issue] = info.value.issues
    assert issue.where == "param run_date"
    assert issue.message == "required (date); pass --param run_date=..."


def test_resolve_reports_all_problems_at_once() -> None:
    declared = {**DECLARED, "run_date": Decl("date")}
    given = {"as_of": "tomorrow", "lookback_days": "3", "mode": "partial", "colour": "blue"}
    with pytest.raises(ParamError) as info:
        resolve(declared, given)
    err = info.value
    assert sorted(i.where for i in err.issues) == [
        "param as_of",
        "param colour",
        "param lookback_days",
        "param mode",
        "param run_date",
    ]
    by_where = {i.where: i.message for i in err.issues}
    assert by_where["param lookback_days"] == "must be >= 7, got 3 (int)"
    assert "expected a date" in by_where["param as_of"]
    assert str(err).startswith("invalid run parameters: 5 problems")
    assert err.exit_code == 2


# ---------------------------------------------------------------- parse_assignments
def test_parse_assignments() -> None:
    got = parse_assignments(["as_of=2026-05-01", " lookback_days =90", "expr=a=b", "empty="])
    assert got == {"as_of": "2026-05-01", "lookback_days": "90", "expr": "a=b", "empty": ""}


def test_parse_assignments_last_one_wins() -> None:
    assert parse_assignments(["a=1", "a=2"]) == {"a": "2"}


def test_parse_assignments_reports_every_malformed_item() -> None:
    with pytest.raises(ParamError) as info:
        parse_assignments(["ok=1", "no_equals", "=value", " =x"])
    assert [i.where for i in info.value.issues] == ["--param no_equals", "--param =value", "--param  =x"]
    assert all(i.message == "expected key=value" for i in info.value.issues)


# ---------------------------------------------------------------- canonical JSON form
@pytest.mark.parametrize(
    ("value", "expected"),
    [(dt.date(2026, 5, 1), "2026-05-01"), (3, 3), (0.5, 0.5), (True, True), ("x", "x")],
)
def test_to_json(value: Any, expected: Any) -> None:
    assert to_json(value) == expected
