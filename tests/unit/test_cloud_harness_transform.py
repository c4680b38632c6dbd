"""The test transform (tests/cloud_harness/transform.py) changes only what it documents."""

from __future__ import annotations

import json
from typing import Any

from stepml.cloud.asl import compile_definition, resolve
from stepml.spec import load_spec
from tests.cloud_harness.transform import HANDED_OFF, WAIT_FOR_TOKEN, for_moto, iter_states, without_locks
from tests.conftest import ROOT

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/work"


def _definition() -> dict[str, Any]:
    return resolve(compile_definition(load_spec(ROOT / "pipeline.yaml")))


def test_compute_and_lambda_tasks_become_task_token_handoffs_carrying_their_parameters() -> None:
    original = _definition()
    moved = for_moto(original, QUEUE)
    before, after = dict(iter_states(original["States"])), dict(iter_states(moved["States"]))
    assert before.keys() == after.keys()
    handed = [n for n, s in before.items() if s.get("Resource") in HANDED_OFF]
    # the reference pipeline uses every hand-off but Redshift and Processing (tests/functional cover those)
    expected = {r for r in HANDED_OFF if "redshift" not in r and "Processing" not in r}
    assert {before[n]["Resource"] for n in handed} == expected
    for name in handed:
        state = after[name]
        assert state["Resource"] == WAIT_FOR_TOKEN
        body = state["Parameters"]["MessageBody"]
        assert state["Parameters"]["QueueUrl"] == QUEUE and body["token.$"] == "$$.Task.Token"
        assert body["resource"] == before[name]["Resource"] and body["parameters"] == before[name]["Parameters"]
        for key in ("ResultSelector", "ResultPath", "Catch", "Next", "End", "TimeoutSeconds"):
            assert state.get(key) == before[name].get(key), (name, key)


def test_only_waits_retry_intervals_and_the_liveness_timeout_change_elsewhere() -> None:
    original = _definition()
    moved = for_moto(original, QUEUE, max_seconds=1, liveness_seconds=7)
    for name, state in iter_states(original["States"]):
        if state.get("Resource") in HANDED_OFF:
            continue
        other = dict(iter_states(moved["States"]))[name]
        if state["Type"] == "Wait":
            assert other["Seconds"] == 1 and {**other, "Seconds": 0} == {**state, "Seconds": 0}
            continue
        for r_before, r_after in zip(state.get("Retry", []), other.get("Retry", []), strict=True):
            assert r_after["IntervalSeconds"] == 1 and r_after["MaxAttempts"] == r_before["MaxAttempts"]
            assert r_after["ErrorEquals"] == r_before["ErrorEquals"]
        if str(state.get("Resource")).endswith(".waitForTaskToken"):  # a run waiting for a lock's release
            assert state["TimeoutSeconds"] == 300 and other["TimeoutSeconds"] == 7
            other = {**other, "TimeoutSeconds": 300}
        strip = [{k: v for k, v in s.items() if k != "Retry"} for s in (state, other)]
        for s in strip:
            s.pop("ItemProcessor", None)
            s.pop("Branches", None)  # their states are compared one by one
        assert strip[0] == strip[1], name
    assert json.dumps(original) == json.dumps(_definition()), "the input is not modified"


def test_without_locks_turns_only_the_lock_states_into_pass_states() -> None:
    original = _definition()
    unlocked = without_locks(original)
    before, after = dict(iter_states(original["States"])), dict(iter_states(unlocked["States"]))
    changed = {n for n in before if before[n] != after[n] and before[n]["Type"] != "Parallel"}
    assert changed and all(n.endswith(": lock") or ": release lock" in n for n in changed)
    assert "extract_train: lock" in changed  # inside a Parallel branch
    assert all(after[n]["Type"] == "Pass" for n in changed)
