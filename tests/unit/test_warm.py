"""Warm entry workers (stepml.local.warm): several entries in one process, each as a fresh process would run it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stepml.entry import EntryResult, Invocation, failure_path, read_result
from stepml.errors import StepExecutionError, StepInputError
from stepml.local import warm

REPO = Path(__file__).resolve().parents[2]
HERE = "tests.unit.test_warm"


# entries the worker imports from this module --------------------------------------------------------------
def says_pid(inv: Invocation) -> EntryResult:
    print(f"partition {inv.partition} in {os.getpid()}")
    return EntryResult(rows=1, summary={"pid": os.getpid()})


def bad_input(inv: Invocation) -> EntryResult:
    raise StepInputError(inv.step, "column x is missing")


def exits(inv: Invocation) -> EntryResult:
    os._exit(3)


def sleeps(inv: Invocation) -> EntryResult:
    import time

    time.sleep(30)
    return EntryResult()


# ----------------------------------------------------------------------------------------------------------
def _invocation(tmp_path: Path, entry: str, partition: int) -> Path:
    inv = Invocation(
        step="s",
        type="python",
        entry=f"{HERE}:{entry}",
        pipeline="p",
        run_id="r",
        params={},
        param_types={},
        config={},
        inputs={},
        output_dir=str(tmp_path / "out"),
        scratch_dir=str(tmp_path / "scratch"),
        partition=partition,
    )
    return inv.write(tmp_path / f"inv-{partition}.json")


def _run(worker: warm.Worker, tmp_path: Path, entry: str, partition: int, timeout_s: float = 60) -> None:
    worker.run(
        "s",
        _invocation(tmp_path, entry, partition),
        log=tmp_path / "out" / "logs" / f"s-{partition}.log",
        import_path=[str(REPO)],
        cwd=tmp_path,
        failure_file=failure_path(tmp_path / "out", partition),
        timeout_s=timeout_s,
    )


def test_a_worker_runs_entries_one_after_another_each_with_its_own_log(tmp_path):
    # Given one worker, When two partitions are handed to it
    worker = warm.Worker()
    try:
        _run(worker, tmp_path, "says_pid", 0)
        _run(worker, tmp_path, "says_pid", 1)
    finally:
        worker.close()
    # Then both ran in the same process (imports and model loaded once), each result and log its own
    first, second = read_result(tmp_path / "out", 0), read_result(tmp_path / "out", 1)
    assert first.summary["pid"] == second.summary["pid"] == worker.proc.pid
    assert (tmp_path / "out" / "logs" / "s-0.log").read_text() == f"partition 0 in {worker.proc.pid}\n"
    assert (tmp_path / "out" / "logs" / "s-1.log").read_text() == f"partition 1 in {worker.proc.pid}\n"


def test_a_failed_entry_raises_the_error_it_reported_and_the_worker_goes_on(tmp_path):
    worker = warm.Worker()
    try:
        with pytest.raises(StepInputError, match="column x is missing"):
            _run(worker, tmp_path, "bad_input", 0)
        _run(worker, tmp_path, "says_pid", 1)
    finally:
        worker.close()
    assert read_result(tmp_path / "out", 1).summary["pid"] == worker.proc.pid


def test_an_entry_that_ends_the_process_fails_with_its_exit_code(tmp_path):
    worker = warm.Worker()
    with pytest.raises(StepExecutionError, match="exited with code 3"):
        _run(worker, tmp_path, "exits", 0)
    assert worker.proc.wait(timeout=10) == 3
    worker.close()


def test_an_entry_past_its_timeout_is_killed(tmp_path):
    worker = warm.Worker()
    _run(worker, tmp_path, "says_pid", 0)  # its imports done, so the timeout is the entry's alone
    with pytest.raises(StepExecutionError, match="timed out"):
        _run(worker, tmp_path, "sleeps", 1, timeout_s=1)
    assert worker.proc.poll() is not None
    worker.close()


def test_taking_the_warm_worker_replaces_it_only_while_steps_remain(monkeypatch):
    monkeypatch.setattr(warm, "_SPARE", [])
    monkeypatch.setattr(warm, "_POOL", {"enabled": False, "ahead": 1})
    assert warm.take() is None  # no warm worker outside `stepml run`
    warm.start()
    warm.steps_ahead(1)
    first = warm.take()
    assert first is not None and len(warm._SPARE) == 1  # a replacement for the step still to come
    warm.steps_ahead(0)
    second = warm.take()
    assert second is not None and second is not first and warm._SPARE == []  # the last step: none started
    for worker in (first, second):
        worker.close()


def test_a_module_runs_as_python_dash_m_with_its_environment_only_while_it_runs(tmp_path):
    # Given a program that reads its settings from the environment when it runs (as the training entrypoint)
    (tmp_path / "prog.py").write_text(
        "import os, sys\nprint(os.environ.get('SETTING', 'unset'), __name__)\nsys.exit(int(os.environ.get('CODE', '0')))\n"
    )
    worker = warm.Worker()

    def run(env: dict[str, str], name: str) -> None:
        worker.run_module(
            "s",
            "prog",
            env,
            log=tmp_path / f"{name}.log",
            import_path=[str(tmp_path)],
            cwd=tmp_path,
            failure_file=tmp_path / "failure.json",
            timeout_s=60,
        )

    try:
        run({"SETTING": "a"}, "first")
        # Then the next run does not see the first one's environment, and its exit code is the program's
        with pytest.raises(StepExecutionError, match="exited with code 4"):
            run({"CODE": "4"}, "second")
    finally:
        worker.close()
    assert (tmp_path / "first.log").read_text() == "a __main__\n"
    assert (tmp_path / "second.log").read_text() == "unset __main__\n"
