"""pipeline.yaml -> validated spec: every problem reported at once, each with its dotted path and line."""

from __future__ import annotations

import copy
import itertools
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.errors import Issue, SpecError
from stepml.spec import load_spec
from steps.check.spec import CheckStep
from steps.extract.spec import ExtractStep
from steps.gate.spec import GateStep
from steps.score.spec import ScoreStep
from steps.train.spec import TrainStep

ROOT = Path(__file__).resolve().parents[2]
REFERENCE: dict[str, Any] = yaml.safe_load((ROOT / "pipeline.yaml").read_text())

Mutator = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------- helpers
def write_spec(tmp_path: Path, mutate: Mutator | None = None) -> Path:
    """The reference spec (optionally mutated) dumped into ``tmp_path`` beside a copy of ``sql/``."""
    raw = copy.deepcopy(REFERENCE)
    if mutate is not None:
        mutate(raw)
    if not (tmp_path / "sql").exists():
        shutil.copytree(ROOT / "sql", tmp_path / "sql")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def spec_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value


def line_of(path: Path, *patterns: str) -> int:
    """1-based line of the last pattern, searching each pattern after the line where the previous one matched.

    ``line_of(p, r"^  train:", r"^    needs:")`` is the ``needs:`` line of step ``train``.
    """
    lines = path.read_text().splitlines()
    start = 0
    found = -1
    for pattern in patterns:
        rx = re.compile(pattern)
        for i in range(start, len(lines)):
            if rx.search(lines[i]):
                found = i
                start = i + 1
                break
        else:
            raise AssertionError(f"{pattern!r} not found in {path} after line {start}")
    return found + 1


def undeclare(raw: dict[str, Any], param: str) -> None:
    """Drop a declared parameter, and the schedules' values for it."""
    raw["params"].pop(param)
    for schedule in raw.get("schedules", {}).values():
        schedule.get("params", {}).pop(param, None)


def only(issues: list[Issue], where: str) -> Issue:
    hits = [i for i in issues if i.where == where]
    assert len(hits) == 1, f"expected one issue at {where}, got {issues}"
    return hits[0]


def set_step(name: str, **fields: Any) -> Mutator:
    def mutate(raw: dict[str, Any]) -> None:
        raw["steps"][name].update(fields)

    return mutate


# ---------------------------------------------------------------- the reference spec
def test_reference_pipeline_loads() -> None:
    # Given the reference spec / When it is loaded
    pipeline = load_spec(ROOT / "pipeline.yaml")
    spec = pipeline.spec

    # Then the typed model mirrors the file
    assert pipeline.name == "job-matching"
    steps = pipeline.steps
    assert list(steps) == ["extract_train", "extract_score", "train", "gate", "score", "check"]
    assert isinstance(steps["extract_train"], ExtractStep)
    assert isinstance(steps["train"], TrainStep)
    assert isinstance(steps["gate"], GateStep)
    assert isinstance(steps["score"], ScoreStep)
    assert isinstance(steps["check"], CheckStep)
    assert steps["score"].needs == ["gate", "extract_score"]
    assert {n: t.name for n, t in pipeline.types.items()} == {n: s.type for n, s in steps.items()}
    assert set(spec.params) == {"as_of", "lookback_days", "score_days"}
    assert spec.model is not None and spec.model.higher_is_better is True
    assert spec.named_schedules()["daily"].timezone == "Asia/Tokyo"
    # and the SQL of each extract is read from beside the spec (relative to the spec's folder)
    sql = pipeline.context("extract_train").read_text(steps["extract_train"].sql)
    assert sql == (ROOT / "sql" / "training_set.sql").read_text()
    assert pipeline.base_dir == ROOT


def test_copied_reference_spec_loads(tmp_path: Path) -> None:
    # the round trip through yaml.safe_dump used by every other test keeps the spec valid
    pipeline = load_spec(write_spec(tmp_path))
    assert pipeline.path == (tmp_path / "pipeline.yaml").resolve()
    assert pipeline.resolve("sql/scoring_set.sql") == tmp_path / "sql" / "scoring_set.sql"


# ---------------------------------------------------------------- single problems, with path and line
def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw.update(colour="blue"))
    err = spec_error(path)
    issue = only(err.issues, "colour")
    assert issue.message == "unknown key"
    assert issue.line == line_of(path, r"^colour:")
    assert issue.column == 1
    assert len(err.issues) == 1


def test_unknown_key_inside_step(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("train", shoe_size=42))
    err = spec_error(path)
    # the discriminator tag pydantic adds (steps.train.train.shoe_size) is not shown
    issue = only(err.issues, "steps.train.shoe_size")
    assert issue.message == "unknown key"
    assert issue.line == line_of(path, r"^  train:", r"^    shoe_size:")
    assert issue.column == 5
    assert len(err.issues) == 1


def test_wrong_type(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("score", partitions="many"))
    err = spec_error(path)
    issue = only(err.issues, "steps.score.partitions")
    assert "integer" in issue.message
    assert issue.line == line_of(path, r"^  score:", r"^    partitions: many")
    assert len(err.issues) == 1


def test_missing_required_key(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["model"].pop("target"))
    err = spec_error(path)
    issue = only(err.issues, "model.target")
    assert issue.message == "required key is missing"
    # the key is absent, so the issue points at its parent mapping
    assert issue.line == line_of(path, r"^model:")


def test_missing_required_step_field(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["steps"]["extract_score"].pop("sql"))
    err = spec_error(path)
    issue = only(err.issues, "steps.extract_score.sql")
    assert issue.message == "required key is missing"
    assert issue.line == line_of(path, r"^  extract_score:")


def test_unknown_step_type(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("gate", type="approve"))
    err = spec_error(path)
    issue = only(err.issues, "steps.gate.type")
    # named at load, with the types the registry knows - never a KeyError later
    assert (
        issue.message
        == "unknown step type 'approve'; known types: check, extract, gate, python, readout, score, serve, train"
    )
    assert issue.line == line_of(path, r"^  gate:", r"^    type: approve")


def test_dependency_on_missing_step(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("train", needs=["extract_train", "extrakt_train"]))
    err = spec_error(path)
    issue = only(err.issues, "steps.train.needs")
    assert issue.message == "depends on 'extrakt_train', which is not a step"
    # the line of the offending list item, not of the key
    assert issue.line == line_of(path, r"^  train:", r"^    - extrakt_train")


def test_self_dependency(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("gate", needs=["train", "gate"]))
    err = spec_error(path)
    messages = [i.message for i in err.issues if i.where == "steps.gate.needs"]
    assert "a step cannot depend on itself" in messages


def test_dependency_cycle_shows_the_path(tmp_path: Path) -> None:
    # Given extract_train -> gate -> train -> extract_train
    path = write_spec(tmp_path, set_step("extract_train", needs=["gate"]))
    err = spec_error(path)
    cycles = [i for i in err.issues if i.message.startswith("dependency cycle: ")]
    assert len(cycles) == 1
    chain = cycles[0].message.removeprefix("dependency cycle: ").split(" -> ")
    # Then the message walks the cycle: it starts and ends on the same step, and each step needs the next
    assert chain[0] == chain[-1]
    assert set(chain) == {"extract_train", "gate", "train"}
    needs = {"extract_train": ["gate"], "train": ["extract_train"], "gate": ["train"]}
    for a, b in itertools.pairwise(chain):
        assert b in needs[a], f"{a} does not need {b} in {chain}"
    assert cycles[0].where == f"steps.{chain[0]}.needs"
    assert cycles[0].line == line_of(path, rf"^  {chain[0]}:", r"^    needs:")
    # and the extract that needs a gate is reported as well
    wrong = only(err.issues, "steps.extract_train.needs")
    assert wrong.message == "a extract step cannot depend on 'gate' (it produces model)"


def test_train_needing_a_check_step(tmp_path: Path) -> None:
    # each type says what kinds of output it consumes; a check's report is not a table to train on
    path = write_spec(tmp_path, set_step("train", needs=["check"]))
    err = spec_error(path)
    on_train = {i.message for i in err.issues if i.where == "steps.train.needs"}
    assert "a train step cannot depend on 'check' (it produces report)" in on_train
    assert "a train step needs exactly 1 upstream step(s) producing 'table', found 0" in on_train
    needs_line = line_of(path, r"^  train:", r"^    needs:")
    assert all(i.line == needs_line for i in err.issues if i.where == "steps.train.needs")


def test_score_needs_a_model_step_or_a_registered_model(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("score", needs=["extract_score"]))
    issue = only(spec_error(path).issues, "steps.score")
    assert issue.message == "needs a model: a gate or train step in 'needs', or 'model: NAME@champion'"
    both = write_spec(tmp_path / "both", set_step("score", model="job-matching@champion"))
    issue = only(spec_error(both).issues, "steps.score.model")
    assert "scores with the model of 'gate'" in issue.message
    # a registered model by alias: another pipeline may declare and train it (the plan resolves it, or says why not)
    other = write_spec(tmp_path / "other", set_step("score", needs=["extract_score"], model="nope@champion"))
    assert load_spec(other).plan_input.record("score").lookup == {
        "model": "nope",
        "alias": "champion",
        "required": True,
    }


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 25 * * *", "cron hour: 25 is outside 0-23"),
        ("0 3 * *", "cron must have 5 fields"),
        ("61 3 * * *", "cron minute: 61 is outside 0-59"),
        ("0 3 * * funday", "cron day-of-week"),
    ],
)
def test_bad_cron(tmp_path: Path, cron: str, fragment: str) -> None:
    path = write_spec(tmp_path, lambda raw: raw["schedules"]["daily"].update(cron=cron))
    err = spec_error(path)
    issue = only(err.issues, "schedules.daily.cron")
    assert fragment in issue.message
    assert issue.line == line_of(path, r"^schedules:", r"^  daily:", r"^    cron:")
    assert len(err.issues) == 1


def test_unknown_timezone(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["schedules"]["daily"].update(timezone="Mars/Olympus_Mons"))
    err = spec_error(path)
    issue = only(err.issues, "schedules.daily.timezone")
    assert "unknown time zone 'Mars/Olympus_Mons'" in issue.message
    assert issue.line == line_of(path, r"^schedules:", r"^  daily:", r"^    timezone:")


def test_sql_placeholder_not_declared(tmp_path: Path) -> None:
    # Given scoring_set.sql uses :score_days and the spec no longer declares it
    path = write_spec(tmp_path, lambda raw: undeclare(raw, "score_days"))
    err = spec_error(path)
    issue = only(err.issues, "steps.extract_score.sql")
    assert ":score_days" in issue.message
    assert "not a declared parameter" in issue.message
    assert issue.line == line_of(path, r"^  extract_score:", r"^    sql:")
    assert len(err.issues) == 1


def test_placeholder_in_a_comment_or_string_is_not_a_parameter(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    sql = tmp_path / "sql" / "scoring_set.sql"
    sql.write_text("-- uses :ghost\nSELECT ':phantom' AS s, x::int AS y, :as_of AS d, :score_days AS n FROM t\n")
    pipeline = load_spec(path)
    assert pipeline.plan_input.record("extract_score").params == ("as_of", "score_days")


def test_step_params_must_be_declared(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("gate", params=["ghost"]))
    err = spec_error(path)
    issue = only(err.issues, "steps.gate.params")
    assert issue.message == "unknown parameter 'ghost'"
    assert issue.line == line_of(path, r"^  gate:", r"^    - ghost")


def test_missing_sql_file(tmp_path: Path) -> None:
    path = write_spec(tmp_path, set_step("extract_train", sql="sql/nope.sql"))
    err = spec_error(path)
    issue = only(err.issues, "steps.extract_train.sql")
    assert issue.message.startswith("cannot read the SQL file: cannot read ") and "nope.sql" in issue.message


def test_categorical_not_in_features(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["model"].update(categorical=["region", "shoe_colour"]))
    err = spec_error(path)
    issue = only(err.issues, "model")
    assert "categorical columns ['shoe_colour'] are not in features" in issue.message
    assert issue.line == line_of(path, r"^model:")


def test_target_is_not_a_feature(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["model"]["features"].append("accepted"))
    err = spec_error(path)
    assert "target 'accepted' must not be a feature" in only(err.issues, "model").message


@pytest.mark.parametrize(
    ("task", "metric"),
    [("classification", "rmse"), ("classification", "r2"), ("regression", "roc_auc"), ("regression", "accuracy")],
)
def test_metric_must_fit_task(tmp_path: Path, task: str, metric: str) -> None:
    path = write_spec(tmp_path, lambda raw: raw["model"].update(task=task, metric=metric))
    err = spec_error(path)
    assert f"metric {metric!r} does not fit task {task!r}" in only(err.issues, "model").message


def test_param_default_must_satisfy_its_declaration(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["params"]["lookback_days"].update(default=-1))
    err = spec_error(path)
    issue = only(err.issues, "params.lookback_days")
    assert "must be >= " in issue.message and "got -1" in issue.message
    assert issue.line == line_of(path, r"^params:", r"^  lookback_days:")


def test_unknown_alarm_metric(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["alarms"][1].update(metric="Vibes"))
    err = spec_error(path)
    issue = only(err.issues, "alarms.1.metric")
    assert "unknown metric 'Vibes'" in issue.message
    assert issue.line == line_of(path, r"^alarms:", r"name: missing-data", r"^  metric: Vibes")


def test_check_column_must_be_known(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda raw: raw["steps"]["check"]["columns"].update(shoe={"max_null_fraction": 0.1}))
    err = spec_error(path)
    issue = only(err.issues, "steps.check.columns.shoe")
    assert issue.line == line_of(path, r"^  check:", r"^      shoe:")


# ---------------------------------------------------------------- files that are not specs
def test_invalid_yaml_document(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("name: broken\nsteps:\n  a: [1, 2\n  b: 3\n")
    err = spec_error(path)
    assert len(err.issues) == 1
    issue = err.issues[0]
    assert issue.where == "<yaml>"
    assert issue.message.startswith("not valid YAML")
    assert issue.line == 4  # where the parser gave up: the unclosed flow sequence runs into "b: 3"
    assert str(path) in str(err)


def test_spec_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("- a\n- b\n")
    err = spec_error(path)
    assert [(i.where, i.line) for i in err.issues] == [("<root>", 1)]


def test_missing_spec_file(tmp_path: Path) -> None:
    err = spec_error(tmp_path / "nope.yaml")
    assert [i.where for i in err.issues] == ["<file>"]
    assert "cannot read spec" in err.issues[0].message


# ---------------------------------------------------------------- several problems at once
def test_several_problems_reported_at_once(tmp_path: Path) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["colour"] = "blue"  # unknown top-level key
        raw["steps"]["train"]["shoe_size"] = 42  # unknown key in a step
        raw["steps"]["score"]["partitions"] = "many"  # wrong type
        raw["schedules"]["daily"]["cron"] = "0 25 * * *"  # bad cron
        raw["schedules"]["daily"]["timezone"] = "Mars/Olympus_Mons"  # unknown time zone
        raw["steps"]["gate"]["needs"] = ["train", "trian"]  # missing dependency

    path = write_spec(tmp_path, mutate)
    err = spec_error(path)

    # Then all six are reported, each once, at its own line, in file order
    got = {(i.where, i.line) for i in err.issues}
    assert got == {
        ("colour", line_of(path, r"^colour:")),
        ("steps.train.shoe_size", line_of(path, r"^  train:", r"^    shoe_size:")),
        ("steps.score.partitions", line_of(path, r"^  score:", r"^    partitions:")),
        ("schedules.daily.cron", line_of(path, r"^schedules:", r"^  daily:", r"^    cron:")),
        ("schedules.daily.timezone", line_of(path, r"^schedules:", r"^  daily:", r"^    timezone:")),
        ("steps.gate.needs", line_of(path, r"^  gate:", r"^    - trian")),
    }
    assert len(err.issues) == 6
    lines = [i.line or 0 for i in err.issues]
    assert lines == sorted(lines)
    # and the message counts them and shows file:line for each
    text = str(err)
    assert text.startswith(f"invalid pipeline spec: 6 problems in {path}")
    assert f"{path}:{line_of(path, r'^colour:')}:1: colour: unknown key" in text
    assert err.exit_code == 2


def test_several_semantic_problems_reported_at_once(tmp_path: Path) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        undeclare(raw, "score_days")
        raw["steps"]["gate"]["params"] = ["ghost"]
        raw["alarms"][0]["metric"] = "Vibes"

    err = spec_error(write_spec(tmp_path, mutate))
    assert sorted(i.where for i in err.issues) == ["alarms.0.metric", "steps.extract_score.sql", "steps.gate.params"]


def test_graph_problem_does_not_hide_undeclared_placeholder(tmp_path: Path) -> None:
    # Given a missing dependency (a graph issue; the spec still validates) and an undeclared :score_days
    def mutate(raw: dict[str, Any]) -> None:
        undeclare(raw, "score_days")
        raw["steps"]["train"]["needs"] = ["extract_train", "nope"]

    err = spec_error(write_spec(tmp_path, mutate))
    # Then both are reported at once
    assert {i.where for i in err.issues} == {"steps.train.needs", "steps.extract_score.sql"}
