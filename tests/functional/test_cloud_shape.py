"""The shape of the compiled state machine, executed by moto: independent steps in Parallel branches, and runs
waiting for a lock without polling (woken by the holder's release; a dead holder found by the liveness check).

AWS rules relied on (docs/aws-rules.md, section 25):
- a Parallel state runs its branches concurrently, and "If any branch fails, because of an unhandled error or by
  transitioning to a Fail state, the entire Parallel state is considered to have failed and all its branches are
  stopped" - https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html
- a ``.waitForTaskToken`` task waits until its token comes back (SendTaskSuccess) or its ``TimeoutSeconds``
  pass (``States.Timeout``) - https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from stepml.spec import load_spec
from tests.cloud_harness.rig import Rig, failures

pytestmark = pytest.mark.slow


def _history(rig: Rig, execution: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = rig.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return events


def _entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _waiters(rig: Rig, step: str) -> int:
    """How many runs wait on ``step``'s lock (their "waiter <execution name>" attributes in its item)."""
    return sum(k.startswith("waiter ") for i in rig.locks() if i["step"]["S"] == step for k in i)


def _ok(rig: Rig, described: dict[str, Any]) -> dict[str, str]:
    assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"])[-3:], default=str)
    return {k: v["status"] for k, v in rig.output(described)["results"].items()}


def test_independent_steps_run_in_parallel_branches(make_pipeline, cloud) -> None:
    with cloud(load_spec(make_pipeline())) as rig:
        # Given extract_train's query held (its branch waits for it)
        held = rig.worker.hold("extract_train: query")
        # When one execution runs, Then extract_score's query is asked for while extract_train's is held
        execution = rig.start(name="branches")
        _until(lambda: any(c.state == "extract_score: query" for c in rig.worker.calls), timeout=300)
        held.set()
        described = rig.wait(execution, timeout=600)
        order = [c.state for c in rig.worker.calls]
        assert order.index("extract_score: query") < order.index("extract_train: commit"), order
        assert set(_ok(rig, described).values()) == {"ran"}
        entered = _entered(_history(rig, described["executionArn"]))
        assert "Parallel 1" in entered
        assert rig.locks() == []


def test_two_executions_waiting_on_one_lock_are_woken_by_its_release_without_polling(make_pipeline, cloud) -> None:
    # a liveness check only after 120 s: a waiter that never timed out was woken by the release
    with cloud(load_spec(make_pipeline()), liveness_seconds=120) as rig:
        held = rig.worker.hold("extract_train: query")  # the holder keeps extract_train's lock
        holder = rig.start(name="holder")
        _until(lambda: any(c.state == "extract_train: query" for c in rig.worker.calls), timeout=300)
        waiters = [rig.start(name="waiter-a"), rig.start(name="waiter-b")]
        # both registered their task tokens in the lock item (attributes "waiter <execution name>")
        _until(lambda: _waiters(rig, "extract_train") == 2, timeout=300)
        held.set()
        described = [rig.wait(e, timeout=600) for e in (holder, *waiters)]
        statuses = [_ok(rig, d) for d in described]
        # each step computed once (extract_train by the holder), the others found it committed
        assert [s["extract_train"] for s in statuses] == ["ran", "cached", "cached"]
        for step in statuses[0]:
            assert sorted(s[step] for s in statuses) == ["cached", "cached", "ran"], step
        jobs = Counter(c.step for c in rig.worker.compute_calls())
        assert jobs["extract_train"] == 1 and jobs["train"] == 1
        # the waiters registered their task tokens and were sent them back: no Wait state, no liveness timeout
        for arn in waiters:
            events = _history(rig, arn)
            entered = _entered(events)
            assert "extract_train: wait for release" in entered
            assert not any(e["type"] == "WaitStateEntered" for e in events)
            assert not any(e["type"] == "TaskTimedOut" for e in events)
        # the holder's release woke both of them (one sendTaskSuccess per registered waiter)
        woken = _entered(_history(rig, holder)).count("extract_train: wake waiter")
        assert woken == 2
        assert rig.locks() == []


def test_a_waiter_breaks_the_lock_of_a_holder_that_died_without_a_catch_within_one_liveness_check(
    make_pipeline, cloud
) -> None:
    with cloud(load_spec(make_pipeline()), liveness_seconds=3) as rig:
        held = rig.worker.hold("extract_train: query")  # the holder sits in extract_train under its lock
        holder = rig.start(name="doomed")
        _until(lambda: any(c.state == "extract_train: query" for c in rig.worker.calls), timeout=300)
        waiter = rig.start(name="survivor")
        _until(lambda: _waiters(rig, "extract_train") == 1, timeout=300)
        # When the holder dies where no Catch runs (StopExecution: its release never runs, no waiter is woken)
        rig.sfn.stop_execution(executionArn=holder, error="Killed", cause="the test")
        died = time.time()
        assert any(i["owner"]["S"] == holder for i in rig.locks())
        held.set()  # its job's answer is refused (the execution is stopped)
        # Then the waiter's next liveness check finds it gone, breaks its lock and computes the step itself
        described = rig.wait(waiter, timeout=600)
        statuses = _ok(rig, described)
        assert statuses["extract_train"] == "ran"
        events = _history(rig, waiter)
        entered = _entered(events)
        timed_out = [e for e in events if e["type"] == "TaskTimedOut"]
        assert len(timed_out) == 1  # one liveness check
        assert entered.index("extract_train: break lock") > entered.index("extract_train: wait for release")
        broken = next(
            e for e in events if e.get("stateEnteredEventDetails", {}).get("name") == "extract_train: break lock"
        )
        # within one liveness check (plus the interpreter's latency on a loaded machine)
        assert broken["timestamp"].timestamp() - died < 3 + 20
        assert rig.locks() == []


def test_a_failed_branch_lets_its_sibling_finish_then_the_run_fails_and_keeps_the_siblings_work(
    make_pipeline, cloud
) -> None:
    with cloud(load_spec(make_pipeline())) as rig:
        # Given extract_train held under its lock while extract_score's query fails
        held = rig.worker.hold("extract_train: query")
        rig.worker.faults["extract_score: query"] = 1
        # When the execution runs
        execution = rig.start(name="one-fails")
        _until(lambda: "extract_score: release lock (failed)" in _entered(_history(rig, execution)), timeout=300)
        # Then the failed branch ended (its lock released) and the sibling goes on, as the local runner does
        assert rig.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
        held.set()
        described = rig.wait(execution, timeout=600)
        assert described["status"] == "FAILED"
        entered = _entered(_history(rig, described["executionArn"]))
        for state in ("extract_train: commit", "train: release lock", "gate: release lock", "Parallel 1: failed?"):
            assert state in entered, state
        assert "Parallel 1: branch 2 failed" in entered and "score: cache check" not in entered
        assert not [s for s in entered if s.startswith("Parallel 1 stopped")]  # nothing was stopped
        assert rig.locks() == []
        (notice,) = rig.notices()
        assert "InjectedFault" in notice["Message"]
        # and the sibling's work is kept: the next run reuses it and computes only what failed and what follows
        statuses = _ok(rig, rig.run())
        assert [statuses[s] for s in ("extract_train", "train", "gate")] == ["cached"] * 3
        assert [statuses[s] for s in ("extract_score", "score", "check")] == ["ran"] * 3
