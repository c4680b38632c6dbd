"""The plan: step order and cache keys, a pure function of the spec's PlanInput and the run parameters."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.core.plan import (
    KEY_LENGTH,
    PLAN_SCHEMA,
    Plan,
    PlanInput,
    StepRecord,
    empty_registry,
    make_plan,
)
from stepml.errors import ParamError, StepmlError
from stepml.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
REFERENCE: dict[str, Any] = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
ALL_STEPS = {"extract_train", "extract_score", "train", "gate", "score", "check"}

Mutator = Callable[[dict[str, Any]], None]


def write_spec(workdir: Path, mutate: Mutator | None = None) -> Path:
    raw = copy.deepcopy(REFERENCE)
    if mutate is not None:
        mutate(raw)
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "sql").exists():
        shutil.copytree(ROOT / "sql", workdir / "sql")
    path = workdir / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def keys(plan: Plan) -> dict[str, str]:
    return {s.name: s.key for s in plan.steps}


def changed(a: Plan, b: Plan) -> set[str]:
    ka, kb = keys(a), keys(b)
    assert ka.keys() == kb.keys()
    return {n for n in ka if ka[n] != kb[n]}


@pytest.fixture(scope="module")
def reference_input() -> PlanInput:
    return load_spec(ROOT / "pipeline.yaml").plan_input


@pytest.fixture(scope="module")
def reference_plan(reference_input: PlanInput) -> Plan:
    return make_plan(reference_input, {}, empty_registry)


# ---------------------------------------------------------------- determinism and order
def test_keys_are_deterministic() -> None:
    # Given the same spec loaded twice / When planned twice
    a = make_plan(load_spec(ROOT / "pipeline.yaml").plan_input, {}, empty_registry)
    b = make_plan(load_spec(ROOT / "pipeline.yaml").plan_input, {}, empty_registry)
    # Then every key is equal, and keys are short hex digests
    assert keys(a) == keys(b)
    assert set(keys(a)) == ALL_STEPS
    for key in keys(a).values():
        assert len(key) == KEY_LENGTH
        int(key, 16)
    assert len(set(keys(a).values())) == len(ALL_STEPS)


def test_copied_spec_plans_the_same_keys(tmp_path: Path, reference_plan: Plan) -> None:
    # the spec's location does not enter the keys: a copy elsewhere plans identically
    assert keys(make_plan(load_spec(write_spec(tmp_path)).plan_input, {}, empty_registry)) == keys(reference_plan)


def test_order_is_topological(reference_plan: Plan) -> None:
    seen: set[str] = set()
    for step in reference_plan.steps:
        assert set(step.needs) <= seen, f"{step.name} planned before its dependencies {step.needs}"
        seen.add(step.name)
    assert [s.name for s in reference_plan.steps] == [
        "extract_train",
        "extract_score",
        "train",
        "gate",
        "score",
        "check",
    ]


def record(name: str, *needs: str) -> StepRecord:
    return StepRecord(name=name, type="extract", needs=needs, params=(), config={}, code="c")


def test_order_follows_dependencies_not_declaration() -> None:
    # Given steps declared in reverse dependency order
    pinput = PlanInput(
        "p",
        {},
        (
            record("c", "b"),
            record("b", "a"),
            record("a"),
        ),
    )
    assert [s.name for s in make_plan(pinput, {}, empty_registry).steps] == ["a", "b", "c"]


def test_cycle_in_plan_input_is_an_error() -> None:
    pinput = PlanInput("p", {}, (record("a", "b"), record("b", "a")))
    with pytest.raises(StepmlError, match="dependency cycle"):
        make_plan(pinput, {}, empty_registry)


def test_plan_params_are_canonical_json(reference_plan: Plan) -> None:
    assert reference_plan.params == {k: v["default"] for k, v in REFERENCE["params"].items()}
    assert isinstance(reference_plan.params["as_of"], str)
    assert reference_plan.pipeline == "job-matching"


def test_invalid_params_are_rejected(reference_input: PlanInput) -> None:
    with pytest.raises(ParamError) as info:
        make_plan(reference_input, {"lookback_days": "3", "nope": "1"}, empty_registry)
    assert {i.where for i in info.value.issues} == {"param lookback_days", "param nope"}


def test_string_and_typed_params_give_the_same_keys(reference_input: PlanInput, reference_plan: Plan) -> None:
    # "--param score_days=30" and the default 30 are the same run
    assert keys(make_plan(reference_input, {"score_days": "30", "as_of": "2026-05-01"}, empty_registry)) == keys(
        reference_plan
    )


# ---------------------------------------------------------------- what each change invalidates
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"score_days": "31"}, {"extract_score", "score", "check"}),
        ({"lookback_days": 90}, {"extract_train", "train", "gate", "score", "check"}),
        ({"as_of": "2026-06-01"}, ALL_STEPS),
    ],
)
def test_param_changes_invalidate_only_dependent_steps(
    reference_input: PlanInput, reference_plan: Plan, given: dict[str, Any], expected: set[str]
) -> None:
    assert changed(reference_plan, make_plan(reference_input, given, empty_registry)) == expected


def test_editing_one_extracts_sql_changes_it_and_downstream(tmp_path: Path) -> None:
    # Given two copies of the project, one with a comment added to the scoring SQL
    base = make_plan(load_spec(write_spec(tmp_path / "a")).plan_input, {}, empty_registry)
    edited_path = write_spec(tmp_path / "b")
    sql = tmp_path / "b" / "sql" / "scoring_set.sql"
    sql.write_text(sql.read_text() + "\n-- reviewed\n")
    edited = make_plan(load_spec(edited_path).plan_input, {}, empty_registry)
    # Then the extract and what depends on it change; the training branch does not
    assert changed(base, edited) == {"extract_score", "score", "check"}


def test_editing_training_sql_changes_the_training_branch(tmp_path: Path) -> None:
    base = make_plan(load_spec(write_spec(tmp_path / "a")).plan_input, {}, empty_registry)
    edited_path = write_spec(tmp_path / "b")
    sql = tmp_path / "b" / "sql" / "training_set.sql"
    sql.write_text(sql.read_text().replace("ORDER BY i.invitation_id", "ORDER BY i.invitation_id DESC"))
    edited = make_plan(load_spec(edited_path).plan_input, {}, empty_registry)
    assert changed(base, edited) == {"extract_train", "train", "gate", "score", "check"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda raw: raw["model"]["hyperparameters"].update(max_iter=123),
            {"train", "gate", "score", "check"},
        ),
        (lambda raw: raw["steps"]["gate"].update(min_value=0.7531), {"gate", "score", "check"}),
        (lambda raw: raw["steps"]["score"].update(partitions=7), {"score", "check"}),
        (lambda raw: raw["steps"]["check"].update(min_rows=17), {"check"}),
        (lambda raw: raw["steps"]["extract_score"].update(rows_per_file=12345), {"extract_score", "score", "check"}),
        # not significant: descriptions, resources, concurrency
        (lambda raw: raw["steps"]["train"].update(description="x"), set()),
        (lambda raw: raw["steps"]["score"].update(max_concurrency=5), set()),
        (lambda raw: raw["steps"]["train"]["resources"].update(retries=3), set()),
    ],
)
def test_config_changes_invalidate_only_dependent_steps(
    tmp_path: Path, reference_plan: Plan, mutate: Mutator, expected: set[str]
) -> None:
    edited = make_plan(load_spec(write_spec(tmp_path, mutate)).plan_input, {}, empty_registry)
    assert changed(reference_plan, edited) == expected


# ---------------------------------------------------------------- the JSON record the cloud plan Lambda embeds
def test_plan_input_json_round_trip(reference_input: PlanInput, reference_plan: Plan) -> None:
    # Given the record serialized as the Lambda will receive it
    data = json.loads(json.dumps(reference_input.to_json()))
    assert data["schema"] == PLAN_SCHEMA
    # When rebuilt
    rebuilt = PlanInput.from_json(data)
    # Then it equals the original and plans identical keys, with and without parameters
    assert rebuilt == reference_input
    assert keys(make_plan(rebuilt, {}, empty_registry)) == keys(reference_plan)
    given = {"as_of": "2026-02-01", "score_days": "7"}
    assert keys(make_plan(rebuilt, given, empty_registry)) == keys(make_plan(reference_input, given, empty_registry))


# ---------------------------------------------------------------- code digests
def test_each_step_hashes_its_type_code_with_what_it_imports() -> None:
    # the check's digest follows steps/check/entry.py into the monitoring modules it imports
    pipeline = load_spec(ROOT / "pipeline.yaml")
    files = pipeline.code_digest("check").files(ROOT)
    assert {"steps/check/entry.py", "monitoring/drift.py", "monitoring/checks.py"} <= set(files)
    assert not any(f.startswith("stepml/") for f in files)  # the framework is versioned, not hashed
    assert "steps/_model.py" in pipeline.code_digest("score").files(ROOT)
    assert "steps/_model.py" in pipeline.code_digest("train").files(ROOT)
    assert "steps/_model.py" not in pipeline.code_digest("gate").files(ROOT)
    # and the key holds that digest
    assert (
        make_plan(pipeline.plan_input, {}, empty_registry).step("check").components["code"]
        == pipeline.code_digest("check").digest
    )


# ---------------------------------------------------------------- navigation
def test_downstream(reference_plan: Plan) -> None:
    assert reference_plan.downstream({"extract_score"}) == {"extract_score", "score", "check"}
    assert reference_plan.downstream({"train"}) == {"train", "gate", "score", "check"}
    assert reference_plan.downstream({"check"}) == {"check"}
    assert reference_plan.downstream({"gate", "extract_score"}) == {"gate", "extract_score", "score", "check"}
    assert reference_plan.downstream(set()) == set()


def test_upstream(reference_plan: Plan) -> None:
    assert reference_plan.upstream("score") == {"score", "gate", "train", "extract_train", "extract_score"}
    assert reference_plan.upstream("gate") == {"gate", "train", "extract_train"}
    assert reference_plan.upstream("extract_score") == {"extract_score"}
    assert reference_plan.upstream("check") == ALL_STEPS


def test_step_lookup(reference_plan: Plan) -> None:
    step = reference_plan.step("train")
    assert step.name == "train"
    assert step.type == "train"
    assert step.needs == ("extract_train",)
    assert step.components["upstream"] == {"extract_train": reference_plan.step("extract_train").key}


def test_unknown_step_is_an_error(reference_plan: Plan) -> None:
    with pytest.raises(StepmlError, match="unknown step 'trian'"):
        reference_plan.step("trian")


def test_key_components(reference_plan: Plan) -> None:
    extract = reference_plan.step("extract_score").components
    assert extract["params"] == {
        "as_of": reference_plan.params["as_of"],
        "score_days": reference_plan.params["score_days"],
    }
    declared = REFERENCE["steps"]["extract_score"]
    sql = (ROOT / declared["sql"]).read_text()
    assert extract["config"] == {
        "sql_path": declared["sql"],
        "rows_per_file": declared["rows_per_file"],
        "sql": hashlib.sha256(sql.encode()).hexdigest(),
    }
    assert reference_plan.step("train").components["params"] == {}
    assert set(reference_plan.step("train").components) == {"step", "type", "params", "config", "code", "upstream"}


# ---------------------------------------------------------------- import weight (the plan Lambda has only stdlib)
def test_plan_module_imports_only_stdlib_and_stepml() -> None:
    code = (
        "import sys, stepml.core.plan; "
        "bad=[m for m in ('pydantic','yaml','pandas','sqlglot','boto3') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
