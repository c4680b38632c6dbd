"""5-field cron validation and conversion to EventBridge Scheduler's 6-field form."""

from __future__ import annotations

import pytest

from stepml.core.cron import to_eventbridge, validate_cron


@pytest.mark.parametrize(
    "expr",
    [
        "0 3 * * *",
        "* * * * *",
        "*/15 * * * *",
        "0,15,30,45 * * * *",
        "0 9-17 * * *",
        "0 9-17/2 * * *",
        "5/10 * * * *",
        "0 0 1,15 * *",
        "0 0 31 * *",
        "0 0 * jan,jul *",
        "0 0 * JAN-MAR *",
        "0 0 * * mon-fri",
        "0 0 * * SUN",
        "0 0 * * 0",
        "0 0 * * 7",
        "59 23 31 12 6",
        "  0   3 * * *  ",
    ],
)
def test_valid_expressions(expr: str) -> None:
    validate_cron(expr)  # raises on failure


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("0 25 * * *", "cron hour: 25 is outside 0-23"),
        ("60 0 * * *", "cron minute: 60 is outside 0-59"),
        ("0 0 0 * *", "cron day-of-month: 0 is outside 1-31"),
        ("0 0 32 * *", "cron day-of-month: 32 is outside 1-31"),
        ("0 0 * 13 *", "cron month: 13 is outside 1-12"),
        ("0 0 * * 8", "cron day-of-week: 8 is outside 0-7"),
        ("0 0 * foo *", "cron month: 'foo' is not a number or name"),
        ("0 0 * * funday", "cron day-of-week: 'funday' is not a number or name"),
        ("0 mon * * *", "cron hour: 'mon' is not a number"),
        ("*/0 * * * *", "cron minute: step '0' must be a positive number"),
        ("*/x * * * *", "cron minute: step 'x' must be a positive number"),
        ("0 17-9 * * *", "cron hour: range '17-9' runs backwards"),
        ("0 0 * * fri-mon", "cron day-of-week: range 'fri-mon' runs backwards"),
        ("0 1,,2 * * *", "cron hour: '' is not a number"),
        ("0 3 * *", "cron must have 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("0 3 * * * *", "got 6"),
        ("", "got 0"),
        ("@daily", "got 1"),
    ],
)
def test_invalid_expressions_name_the_field(expr: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_cron(expr)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("*/15 9-17 * * *", "cron(*/15 9-17 * * ? *)"),
        ("0 0 1 * *", "cron(0 0 1 * ? *)"),
        ("30 6 1,15 jan,jul *", "cron(30 6 1,15 jan,jul ? *)"),
        # day of week: cron 0-7 (0 and 7 = Sunday) -> EventBridge 1-7 (1 = Sunday)
        ("0 9 * * 1-5", "cron(0 9 ? * 2,3,4,5,6 *)"),
        ("0 9 * * 0", "cron(0 9 ? * 1 *)"),
        ("0 9 * * 7", "cron(0 9 ? * 1 *)"),
        ("0 9 * * 6", "cron(0 9 ? * 7 *)"),
        ("0 9 * * 1,3,5", "cron(0 9 ? * 2,4,6 *)"),
        ("0 9 * * 0-6/2", "cron(0 9 ? * 1,3,5,7 *)"),
        ("0 9 * * mon-fri", "cron(0 9 ? * 2,3,4,5,6 *)"),
        ("0 9 * * 5-7", "cron(0 9 ? * 1,6,7 *)"),
    ],
)
def test_to_eventbridge(expr: str, expected: str) -> None:
    assert to_eventbridge(expr) == expected


def test_to_eventbridge_rejects_both_day_fields() -> None:
    with pytest.raises(ValueError) as info:
        to_eventbridge("0 3 1 * 1")
    assert "cannot restrict both day-of-month and day-of-week" in str(info.value)


def test_to_eventbridge_validates_first() -> None:
    with pytest.raises(ValueError) as info:
        to_eventbridge("0 25 * * *")
    assert "cron hour" in str(info.value)
