"""The state machine's shape: Parallel branches from the step graph, the lock's callback wait, the cost of a run."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bench.cost import Scenario, execution_costs, walk
from stepml.cloud.asl import compile_definition, named_states
from stepml.cloud.asl.locks import LIVENESS_SECONDS, SDK_LOCK_TAKEN
from stepml.cloud.asl.shape import Block, Par, Seq, parallels, shape, steps_of
from stepml.spec import load_spec
from tests.conftest import ROOT, small_spec_dict, write_spec

REFERENCE_NEEDS = {
    "extract_train": [],
    "extract_score": [],
    "train": ["extract_train"],
    "gate": ["train"],
    "score": ["gate", "extract_score"],
    "check": ["score", "extract_score"],
}


def _before(block: Block, done: frozenset[str] = frozenset()) -> dict[str, frozenset[str]]:
    """For each step, the steps the shape guarantees finished before it starts."""
    if isinstance(block, str):
        return {block: done}
    out: dict[str, frozenset[str]] = {}
    if isinstance(block, Seq):
        for item in block.items:
            out.update(_before(item, done))
            done = done | frozenset(steps_of(item))
        return out
    for branch in block.branches:
        out.update(_before(branch, done))
    return out


def _closure(needs: Mapping[str, Sequence[str]], step: str) -> set[str]:
    out: set[str] = set()
    todo = list(needs[step])
    while todo:
        d = todo.pop()
        if d not in out:
            out.add(d)
            todo.extend(needs[d])
    return out


def test_the_reference_pipeline_runs_the_extract_score_branch_beside_train() -> None:
    block = shape(list(REFERENCE_NEEDS), REFERENCE_NEEDS)
    assert block == Seq((Par((Seq(("extract_train", "train", "gate")), "extract_score")), "score", "check"))
    # a cached run: 3 transitions per step + Input, Plan, Succeeded + 1 Parallel = 22, as before the branches


@pytest.mark.parametrize("seed", range(40))
def test_no_step_starts_before_what_it_needs_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(rng.randint(1, 12))]
    needs = {n: [d for d in names[:i] if rng.random() < 0.3] for i, n in enumerate(names)}
    block = shape(names, needs)
    assert sorted(steps_of(block)) == sorted(names)  # every step exactly once
    assert parallels(block) <= max(len(names) - 1, 0)  # a cached run pays one transition per Parallel state
    before = _before(block)
    for step in names:
        assert _closure(needs, step) <= before[step], (step, block)


def test_a_graph_that_is_not_series_parallel_runs_its_sources_first() -> None:
    needs = {"a": [], "b": [], "c": ["a", "b"], "d": ["b"]}
    assert shape(list(needs), needs) == Seq((Par(("a", "b")), Par(("c", "d"))))


def test_independent_chains_become_branches_and_a_chain_stays_a_sequence() -> None:
    chain = {"a": [], "b": ["a"], "c": ["b"]}
    assert shape(list(chain), chain) == Seq(("a", "b", "c"))
    assert parallels(shape(list(chain), chain)) == 0
    fork = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert shape(list(fork), fork) == Seq(("a", Par(("b", "c")), "d"))


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return compile_definition(load_spec(ROOT / "pipeline.yaml"))


def test_a_parallel_state_keeps_the_plan_and_merges_the_results_of_its_branches(definition: dict[str, Any]) -> None:
    """AWS rule: "A Parallel state provides each branch with a copy of its own input data ... It generates output
    that is an array with one element for each branch" - so its ResultSelector merges the branches' results
    (each holds those before the Parallel state and adds its own steps'), keeps the plan and each branch's error,
    and the state stays small. States.JsonMerge merges two objects (shallow when its third argument is false).
    https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html
    https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
    """
    parallel = definition["States"]["Parallel 1"]
    assert parallel["ResultPath"] == "$"
    assert parallel["ResultSelector"] == {
        "plan.$": "$[0].plan",
        "results.$": "States.JsonMerge($[0].results, $[1].results, false)",
        "error": None,
        "errors.$": "$[*].error",
    }
    assert definition["States"]["Plan"]["ResultSelector"]["error"] is None  # every branch's output has an error


def test_a_failed_step_ends_its_branch_and_the_parallel_fails_after_its_siblings_finish(
    definition: dict[str, Any],
) -> None:
    """AWS rule: "If any branch fails, because of an unhandled error or by transitioning to a Fail state, the entire
    Parallel state is considered to have failed and all its branches are stopped" - so a step's failure ends its
    branch with a Pass state (its error at $.error), never a Fail state: the sibling branches finish (their work is
    kept, as locally), then ``Parallel 1: failed?`` goes to the failure target with the branch's error. An error no
    state catches still fails the Parallel state: its Catch releases (condition: ours) every lock inside it.
    https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html
    """
    states = definition["States"]
    parallel = states["Parallel 1"]
    for i, branch in enumerate(parallel["Branches"], start=1):
        assert branch["States"][f"Parallel 1.{i}: failed"] == {"Type": "Pass", "End": True}
        assert not [s for s in branch["States"].values() if s["Type"] == "Fail"]
    check = states[parallel["Next"]]
    assert check["Type"] == "Choice" and check["Default"] == "score: cache check"
    for i, rule in enumerate(check["Choices"]):
        assert rule == {
            "Not": {"Variable": f"$.errors[{i}]", "IsNull": True},
            "Next": f"Parallel 1: branch {i + 1} failed",
        }
        failed = states[rule["Next"]]
        assert failed["Parameters"]["error.$"] == f"$.errors[{i}]" and failed["Next"] == "Notify failure"
    (catch,) = parallel["Catch"]
    name, released = catch["Next"], []
    while name != "Notify failure":
        state = states[name]
        if state.get("Resource") == "arn:aws:states:::dynamodb:deleteItem":
            released.append(state["Parameters"]["Key"]["lock_id"]["S.$"])
            assert state["Parameters"]["ConditionExpression"] == "#owner = :me"
            assert all(c["ResultPath"] is None for c in state["Catch"])  # the branch's error is what is notified
        name = state.get("Next") or state["Default"]
    assert released == [f"$.plan.steps.{s}.lock_id" for s in ("extract_train", "train", "gate", "extract_score")]


def test_waiting_for_a_lock_is_a_callback_with_a_liveness_timeout(definition: dict[str, Any]) -> None:
    """AWS rules: a ``.waitForTaskToken`` task waits until its token is returned (SendTaskSuccess) or its timeout
    passes with ``States.Timeout``; AWS SDK integrations support ``.waitForTaskToken`` in Standard workflows; their
    errors are named ``<ServiceName>.<Exception>`` with DynamoDB's prefix ``DynamoDb``.
    https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html
    https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
    """
    states = named_states(definition["States"])
    for step in REFERENCE_NEEDS:
        wait = states[f"{step}: wait for release"]
        assert wait["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken"
        assert wait["TimeoutSeconds"] == LIVENESS_SECONDS == 300
        values = wait["Parameters"]["ExpressionAttributeValues"]
        assert values[":token"] == {"M": {"token": {"S.$": "$$.Task.Token"}}}
        assert wait["Parameters"]["ConditionExpression"] == "#owner = :holder"  # released meanwhile: no wait
        catches = {e: c["Next"] for c in wait["Catch"] for e in c["ErrorEquals"]}
        assert catches[SDK_LOCK_TAKEN[0]] == f"{step}: cache check"
        assert catches["States.Timeout"] == f"{step}: lock holder"  # the liveness check
        assert wait["Next"] == f"{step}: cache check"  # woken: the holder committed (or failed)
        assert not any(s["Type"] == "Wait" for n, s in states.items() if n.startswith(f"{step}: "))
        release = states[f"{step}: release lock"]
        assert release["Parameters"]["ReturnValues"] == "ALL_OLD"  # the waiters' tokens, atomically with the delete
        wake = states[f"{step}: wake waiters"]
        (send,) = [s for s in wake["ItemProcessor"]["States"].values() if s["Type"] == "Task"]
        assert send["Resource"] == "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess"


def test_a_fully_cached_run_costs_a_constant_number_of_transitions_and_one_lambda() -> None:
    """AWS rule: a Standard workflow is billed per state transition ("each time a step of your workflow is
    executed"), Parallel states and the states inside their branches included.
    https://aws.amazon.com/step-functions/pricing/

    The target: at most 3 transitions per step plus a constant. The plan Lambda finds every step committed (one
    manifest head read per step, inside its one invocation) and the machine skips the steps: Input, Plan,
    All cached?, All cached, Succeeded - whatever the number of steps and Parallel states."""
    for spec in ("pipeline.yaml", "examples/job_matching/pipeline.yaml", "examples/job_matching/models.yaml"):
        pipeline = load_spec(ROOT / spec)
        costs = dict((s.name, c) for s, c in execution_costs(pipeline))
        n = len(pipeline.steps)
        cached = costs["cached"]
        assert cached.states == ["Input", "Plan", "All cached?", "All cached", "Succeeded"], (spec, cached.states)
        assert cached.transitions <= 3 * n + 5
        assert cached.lambdas == 1
        assert cached.s3_gets == n  # the plan Lambda's head reads
        assert costs["computing"].lambdas > n  # plan + a commit per step (+ the types' own calls)


def test_a_run_with_one_step_to_compute_checks_the_others_in_the_machine() -> None:
    """Not all cached: the steps' own cache checks run (3 transitions per cached step, + 1 per Parallel state)."""
    pipeline = load_spec(ROOT / "pipeline.yaml")
    definition = compile_definition(pipeline)
    steps = set(pipeline.steps)
    records = pipeline.plan_input.steps
    p = parallels(shape([r.name for r in records], {r.name: r.needs for r in records}))
    ordered = tuple(r.name for r in records)
    one_miss = walk(definition["States"], definition["StartAt"], Scenario("check", steps - {"check"}, ordered))
    cached_steps = [s for s in one_miss.states if s.endswith(": cached")]
    assert len(cached_steps) == len(steps) - 1
    assert "All cached" not in one_miss.states and "check: lock" in one_miss.states
    assert one_miss.transitions > 3 * (len(steps) - 1) + p


def test_a_waiting_run_costs_five_transitions_per_liveness_check_not_seven_per_30_s() -> None:
    pipeline = load_spec(ROOT / "pipeline.yaml")
    definition = compile_definition(pipeline)
    steps = set(pipeline.steps)

    def transitions(checks: int) -> int:
        scenario = Scenario("waiting", steps, waits={"train": checks})
        return walk(definition["States"], definition["StartAt"], scenario).transitions

    per_check = transitions(2) - transitions(1)
    assert per_check == 5  # wait for release, lock holder, still held?, holder running?, holder alive?
    hour = transitions(3600 // LIVENESS_SECONDS) - transitions(0)
    assert hour < 7 * 120 / 10  # polling every 30 s cost 840 transitions an hour


def test_a_parallel_state_never_nests_more_than_ten_intrinsic_functions(tmp_path: Path) -> None:
    """AWS rule: "You can nest up to 10 intrinsic functions within a field in your workflows" - the merge of a
    Parallel state's results nests one States.JsonMerge per branch after the first, so 15 independent extracts
    become a Parallel state of 11 branches whose last branch is a Parallel state of the other 5.
    https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
    """
    raw = small_spec_dict(tmp_path)
    for i in range(13):
        raw["steps"][f"extract_{i:02d}"] = {"type": "extract", "sql": "sql/scoring_set.sql", "min_rows": 1}
    definition = compile_definition(load_spec(write_spec(tmp_path, raw)))
    states = named_states(definition["States"])
    found = [s for s in states.values() if s["Type"] == "Parallel"]
    assert len(found) >= 2 and max(len(s["Branches"]) for s in found) == 11
    for parallel in found:
        assert parallel["ResultSelector"]["results.$"].count("States.JsonMerge(") <= 10
    assert {f"extract_{i:02d}: cache check" for i in range(13)} <= set(states)
