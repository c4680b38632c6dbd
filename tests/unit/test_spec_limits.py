"""Hostile or careless YAML gets a short named SpecError: non-finite numbers, deep nesting, alias bombs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stepml.errors import SpecError
from stepml.spec import load_spec
from tests.unit.test_spec import spec_error, write_spec


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    "where,set_value",
    [
        ("steps.gate.min_value", lambda raw, v: raw["steps"]["gate"].__setitem__("min_value", v)),
        ("params.lookback_days.max", lambda raw, v: raw["params"]["lookback_days"].__setitem__("max", v)),
        (
            "model.hyperparameters",  # the field; the message names learning_rate
            lambda raw, v: raw["model"]["hyperparameters"].__setitem__("learning_rate", v),
        ),
        ("alarms.0.threshold", lambda raw, v: raw["alarms"][0].__setitem__("threshold", v)),
        ("steps.check.max_null_fraction", lambda raw, v: raw["steps"]["check"].__setitem__("max_null_fraction", v)),
    ],
)
def test_non_finite_numbers_are_named_spec_errors(tmp_path: Path, where: str, set_value, value: float) -> None:
    path = write_spec(tmp_path, lambda raw: set_value(raw, value))
    err = spec_error(path)
    assert any(i.where.startswith(where) and "finite" in i.message for i in err.issues), str(err)


def _assert_short(err: SpecError, word: str) -> None:
    text = str(err)
    assert word in text, text
    assert len(text) < 500, text


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    path = write_spec(tmp_path)
    path.write_text(path.read_text() + "extra: " + "[" * depth + "]" * depth + "\n")
    _assert_short(spec_error(path), "nested")


def test_deep_block_mappings_are_refused(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    lines = [f"{'  ' * i}k{i}:" for i in range(200)]
    path.write_text(path.read_text() + "\n".join(lines) + " 1\n")
    _assert_short(spec_error(path), "nested")


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = "\n".join(lines) + "\n"
    path.write_text(path.read_text() + bomb)
    started = time.monotonic()
    err = spec_error(path)
    assert time.monotonic() - started < 5
    _assert_short(err, "alias")


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    text = path.read_text().replace("  extract_train:\n", "  extract_train: &base\n", 1)
    assert "&base" in text
    path.write_text(text)
    load_spec(path)


def test_non_finite_python_step_config_is_a_named_error() -> None:
    from pydantic import ValidationError

    from steps.python.spec import PythonStep

    with pytest.raises(ValidationError, match=r"config.a.1 must be a finite number"):
        PythonStep.model_validate({"type": "python", "function": "m:f", "config": {"a": [1.0, float("nan")]}})
