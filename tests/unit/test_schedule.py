"""The schedule model: named schedules, run-date expressions, the run an execution input asks for."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from stepml.core.params import coerce, relative_days, resolve
from stepml.core.plan import make_plan
from stepml.core.schedule import SCHEDULED_TIME, ScheduleRecord, run_date, run_of, schedule_input
from stepml.errors import ParamError, SpecError
from stepml.spec import load_spec
from tests.unit.test_params import Decl
from tests.unit.test_spec import line_of, only, spec_error, write_spec

MAY_1 = dt.date(2026, 5, 1)


# ---------------------------------------------------------------- run-date expressions
@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("run_date", 0),
        ("run_date - 1 day", -1),
        ("run_date-1day", -1),
        (" run_date + 3 days ", 3),
        ("run_date - 7 days", -7),
        ("run_date - 2 weeks", -14),
        ("2026-05-01", None),
        ("hello", None),
    ],
)
def test_relative_days(text: str, days: int | None) -> None:
    assert relative_days(text) == days


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("today", "a date relative to the run is run_date"),
        ("yesterday", "e.g. run_date - 1 day"),
        ("<aws.scheduler.scheduled-time>", "a scheduled run's date is run_date"),
        ("run_date - 1 month", "run_date - N days"),
        ("run_date * 2", "run_date - N days"),
        ("run_dates", "run_date - N days"),
    ],
)
def test_vague_or_malformed_dates_are_refused_with_what_to_write(value: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="expected a date like 2026-05-01") as info:
        coerce("date", value, run_date=MAY_1)
    assert fragment in str(info.value)


def test_a_date_expression_is_evaluated_at_the_run_date_and_only_there() -> None:
    assert coerce("date", "run_date - 1 day", run_date=MAY_1) == dt.date(2026, 4, 30)
    assert coerce("str", "run_date", run_date=MAY_1) == "run_date"  # a string parameter keeps its text
    with pytest.raises(ValueError, match="relative to the run's date, which is not known here"):
        coerce("date", "run_date")
    # a default may be an expression; a given value wins over it
    declared = {"as_of": Decl("date", default="run_date - 7 days")}
    assert resolve(declared, {}, run_date=MAY_1) == {"as_of": dt.date(2026, 4, 24)}
    assert resolve(declared, {"as_of": "2026-01-02"}, run_date=MAY_1) == {"as_of": dt.date(2026, 1, 2)}


# ---------------------------------------------------------------- the run's date and what an input asks for
def test_the_run_date_is_the_scheduled_time_in_the_schedules_time_zone() -> None:
    # 18:30 UTC on May 1 is 03:30 on May 2 in Tokyo
    at = dt.datetime(2026, 5, 1, 18, 30, tzinfo=dt.UTC)
    assert run_date(at, "Asia/Tokyo") == dt.date(2026, 5, 2)
    assert run_date(at, "UTC") == MAY_1
    assert run_date(at, "America/Los_Angeles") == MAY_1


def test_run_of_a_scheduled_input() -> None:
    schedules = {"daily": ScheduleRecord("Asia/Tokyo", {"as_of": "run_date - 1 day", "n": 1}, ("score",))}
    started = dt.datetime(2026, 5, 9, tzinfo=dt.UTC)  # a late start (a retry): the scheduled time counts
    run = run_of(
        schedules,
        {"params": {"n": 2}, "schedule": "daily", "scheduled_time": "2026-05-01T18:00:00Z"},
        started,
    )
    assert run.params == {"as_of": "run_date - 1 day", "n": 2}  # the input's params over the schedule's
    assert run.targets == frozenset({"score"})
    assert run.run_date == dt.date(2026, 5, 2) and run.schedule == "daily"


def test_run_of_a_run_started_by_hand_uses_its_start_in_utc() -> None:
    started = dt.datetime(2026, 5, 1, 23, 59, tzinfo=dt.UTC)
    run = run_of({}, {"params": {"a": 1}}, started)
    assert (run.params, run.targets, run.run_date, run.schedule) == ({"a": 1}, None, MAY_1, None)
    # a schedule's name alone: its params, its steps, its zone, at the start time
    run = run_of({"daily": ScheduleRecord("Asia/Tokyo", {"a": 2})}, {"schedule": "daily"}, started)
    assert (run.params, run.run_date) == ({"a": 2}, dt.date(2026, 5, 2))


@pytest.mark.parametrize(
    ("execution_input", "where", "fragment"),
    [
        ({"schedule": "weekly"}, "schedule", "unknown schedule 'weekly'; the pipeline's schedules: daily"),
        ({"scheduled_time": "yesterday"}, "scheduled_time", "yesterday"),
        ({"scheduled_time": "2026-05-01T03:00:00"}, "scheduled_time", "has no time zone"),
        ({"params": [1]}, "params", "must be an object"),
    ],
)
def test_a_bad_execution_input_is_a_param_error(execution_input: dict[str, Any], where: str, fragment: str) -> None:
    with pytest.raises(ParamError) as info:
        run_of({"daily": ScheduleRecord()}, execution_input, dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    (issue,) = info.value.issues
    assert issue.where == where and fragment in issue.message


def test_the_schedule_input_carries_the_scheduled_time_context_attribute() -> None:
    """EventBridge Scheduler, "Adding context attributes": "<aws.scheduler.scheduled-time> - The time you specified
    for the schedule to invoke its target, for example, 2022-03-22T18:59:43Z." Scheduler "replaces each keyword
    with its respective value when your schedule invokes the target"; the input of a Step Functions target must be
    well-formed JSON (API Target.Input).
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html"""
    assert SCHEDULED_TIME == "<aws.scheduler.scheduled-time>"
    text = schedule_input("daily", {"as_of": "run_date - 1 day"})
    assert json.loads(text) == {
        "params": {"as_of": "run_date - 1 day"},
        "schedule": "daily",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    # what Scheduler delivers is still JSON, and plans as that day's run
    delivered = json.loads(text.replace(SCHEDULED_TIME, "2022-03-22T18:59:43Z"))
    run = run_of({"daily": ScheduleRecord("Asia/Tokyo")}, delivered, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert run.run_date == dt.date(2022, 3, 23)


# ---------------------------------------------------------------- the spec
def test_the_reference_schedule_moves_with_the_run_date(tmp_path: Any) -> None:
    pipeline = load_spec(write_spec(tmp_path))
    (name,) = pipeline.schedules
    daily = pipeline.schedules[name]
    day1 = make_plan(pipeline.plan_input, daily.params, _none, run_date=MAY_1)
    day2 = make_plan(pipeline.plan_input, daily.params, _none, run_date=MAY_1 + dt.timedelta(days=1))
    assert day1.params["as_of"] == "2026-04-30" and day2.params["as_of"] == "2026-05-01"
    # every step whose output depends on the date gets a new key the next day (nothing is served stale)
    assert all(a.key != b.key for a, b in zip(day1.steps, day2.steps, strict=True))


def _none(step: str, lookup: Any, upstream: Any) -> None:
    return None


def test_the_single_schedule_block_is_the_schedule_named_default(tmp_path: Any) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["schedule"] = raw.pop("schedules")["daily"]

    pipeline = load_spec(write_spec(tmp_path, mutate))
    assert list(pipeline.schedules) == ["default"]
    assert pipeline.schedules["default"].params["as_of"] == "run_date - 1 day"


def test_a_schedule_param_that_is_no_date_fails_at_load_naming_its_field(tmp_path: Any) -> None:
    # Given the issue's example: a date parameter scheduled as "today" (every run would fail with ParamError)
    path = write_spec(tmp_path, lambda raw: raw["schedules"]["daily"]["params"].update(as_of="today"))
    issue = only(spec_error(path).issues, "schedules.daily.params.as_of")
    assert "got 'today'" in issue.message and "run_date" in issue.message
    assert issue.line == line_of(path, r"^schedules:", r"^  daily:", r"^    params:", r"^      as_of:")


def test_schedule_problems_are_reported_at_once(tmp_path: Any) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        daily = raw["schedules"]["daily"]
        daily["params"].update(score_days="many", colour="red")
        daily["steps"] = ["check", "scroe"]

    err = spec_error(write_spec(tmp_path, mutate))
    wheres = {i.where for i in err.issues}
    assert wheres == {"schedules.daily.params.score_days", "schedules.daily.params.colour", "schedules.daily.steps"}
    assert "unknown step 'scroe'" in only(err.issues, "schedules.daily.steps").message
    # a name that cannot be part of an AWS schedule name
    bad = write_spec(tmp_path / "bad", lambda raw: raw["schedules"].update({"Weekly!": {"cron": "0 2 * * mon"}}))
    assert "schedule names must match" in only(spec_error(bad).issues, "schedules").message


def test_schedule_and_schedules_together_are_refused(tmp_path: Any) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["schedule"] = {"cron": "0 1 * * *"}

    err = spec_error(write_spec(tmp_path, mutate))
    assert any("not both" in i.message for i in err.issues)


def test_a_date_param_may_default_relative_to_the_run(tmp_path: Any) -> None:
    path = write_spec(tmp_path, lambda raw: raw["params"]["as_of"].update(default="run_date - 1 day"))
    pipeline = load_spec(path)
    plan = make_plan(pipeline.plan_input, {}, _none, run_date=MAY_1)
    assert plan.params["as_of"] == "2026-04-30"
    bad = write_spec(tmp_path / "bad", lambda raw: raw["params"]["as_of"].update(default="today"))
    assert "got 'today'" in only(spec_error(bad).issues, "params.as_of").message


def test_a_plan_of_some_steps_has_the_full_plans_keys(tmp_path: Any) -> None:
    pipeline = load_spec(write_spec(tmp_path))
    full = make_plan(pipeline.plan_input, {}, _none, run_date=MAY_1)
    part = make_plan(pipeline.plan_input, {}, _none, run_date=MAY_1, targets=["train"])
    assert [s.name for s in part.steps] == ["extract_train", "train"]
    assert {s.name: s.key for s in part.steps} == {
        s.name: s.key for s in full.steps if s.name in {"extract_train", "train"}
    }


def test_synth_time_check_refuses_what_every_run_would_refuse(tmp_path: Any) -> None:
    """The stacks run the plan Lambda's own parameter check on each schedule (``check_runs``)."""
    from infra.constructs.schedule import check_runs

    pipeline = load_spec(write_spec(tmp_path))
    check_runs(pipeline)  # the reference schedule plans
    object.__setattr__(pipeline.spec.schedules["daily"], "params", {"as_of": "today"})  # past load's checks
    pipeline.__dict__.pop("schedules", None)
    with pytest.raises(SpecError) as info:
        check_runs(pipeline)
    (issue,) = info.value.issues
    assert issue.where == "schedules.daily.params" and "got 'today'" in issue.message


def test_the_lambda_asset_dates_a_tokyo_run_without_a_system_time_zone_database(tmp_path: Any) -> None:
    """The plan Lambda's runtime may have no system time zone database; ``zoneinfo`` then reads the ``tzdata``
    package, whose files for the schedules' zones the asset carries (``stepml.cloud.bundle.tz_sources``)."""
    import subprocess
    import sys

    from stepml.cloud.bundle import stage_asset

    asset = stage_asset(load_spec(write_spec(tmp_path / "spec")), tmp_path / "asset")
    code = (
        "import sys, zoneinfo, datetime as dt\n"
        f"sys.path.insert(0, {str(asset)!r})\n"
        "zoneinfo.reset_tzpath(to=[])  # no system database\n"
        "from stepml.core.schedule import ScheduleRecord, run_of\n"
        "run = run_of({'daily': ScheduleRecord('Asia/Tokyo')}, {'schedule': 'daily', "
        "'scheduled_time': '2026-05-01T18:00:00Z'}, dt.datetime.now(dt.UTC))\n"
        "import tzdata; assert tzdata.__file__.startswith(sys.path[0]), tzdata.__file__\n"
        "print(run.run_date)\n"
    )
    # -S: no site-packages (only the standard library and the asset), -E: no PYTHON* variables
    out = subprocess.run([sys.executable, "-S", "-E", "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2026-05-02"
