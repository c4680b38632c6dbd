"""What a killed run leaves behind is reported as such (a 'died' run) or cleaned up (scratch folders)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from stepml.core import layout
from stepml.core.runs import RunRecord
from stepml.local.runner import load_run, read_run
from stepml.store.objects import LocalStore


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write(store: LocalStore, record: RunRecord) -> None:
    store.write_bytes(layout.run_key(record.pipeline, record.run_id), json.dumps(record.to_json()).encode())


def _record(run_id: str, **kw) -> RunRecord:
    base = {"run_id": run_id, "pipeline": "p", "params": {}, "root": "/r", "started_at": time.time() - 60}
    return RunRecord(**{**base, **kw})


def test_a_running_record_whose_process_is_gone_reads_as_died(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _write(store, _record("20260101T000000-aaaaaa", host=socket.gethostname(), pid=_dead_pid()))
    record = read_run(store, "p", "20260101T000000-aaaaaa")
    assert record is not None and record.status == "died"
    latest = load_run(store, "p")
    assert latest is not None and latest.status == "died"


def test_a_running_record_of_a_live_process_stays_running(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _write(store, _record("20260101T000000-bbbbbb", host=socket.gethostname(), pid=os.getpid()))
    record = read_run(store, "p", "20260101T000000-bbbbbb")
    assert record is not None and record.status == "running"


def test_a_reused_pid_is_not_the_run(tmp_path: Path) -> None:
    """Our own pid, but the record says its process started long before ours did: the run's process is gone."""
    store = LocalStore(tmp_path)
    record = _record("20260101T000000-cccccc", host=socket.gethostname(), pid=os.getpid(), pid_started=1000.0)
    _write(store, record)
    got = read_run(store, "p", "20260101T000000-cccccc")
    assert got is not None and got.status == "died"


def test_stale_scratch_folders_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    from stepml.local import scratch
    from stepml.store.lock import Owner

    mine = scratch.create(Owner.current("r1"), tmp_path)
    dead = scratch.create(Owner("r0", socket.gethostname(), _dead_pid(), 0.0), tmp_path)
    (dead / "big.bin").write_bytes(b"x" * 1000)
    assert scratch.sweep(tmp_path) == [dead]
    assert mine.is_dir() and not dead.exists()


def test_the_console_shows_the_kept_log_path_of_a_failed_step(capsys, monkeypatch) -> None:
    """Rich took ``[logs: /path]`` for markup and printed nothing of it."""
    from stepml.cli import common
    from stepml.cli.common import ConsoleEvents, render_run

    monkeypatch.setattr(common.console, "width", 300)
    from stepml.core.runs import StepOutcome

    out = StepOutcome("train", "train", "k" * 20, status="failed", error="boom [logs: /r/failures/x/train/logs]")
    out.error_type = "StepExecutionError"
    ConsoleEvents().step_finished(out)
    render_run(_record("20260101T000000-dddddd", status="failed", steps=[out], finished_at=time.time()))
    text = capsys.readouterr().out
    assert text.count("[logs: /r/failures/x/train/logs]") == 2, text


def test_a_running_record_from_another_host_is_died_when_its_heartbeat_is_stale(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    now = time.time()
    _write(store, _record("20260101T000000-eeeeee", host="elsewhere", pid=1, heartbeat_at=now - 3600))
    _write(store, _record("20260101T000000-ffffff", host="elsewhere", pid=1, heartbeat_at=now - 5))
    _write(store, _record("20260101T000000-gggggg", host="elsewhere", pid=1))  # older records: cannot tell
    ids = ("20260101T000000-eeeeee", "20260101T000000-ffffff", "20260101T000000-gggggg")
    statuses = {r: getattr(read_run(store, "p", r), "status", None) for r in ids}
    assert statuses == {
        "20260101T000000-eeeeee": "died",
        "20260101T000000-ffffff": "running",
        "20260101T000000-gggggg": "running",
    }


def test_gc_decisions_on_records_and_published_days() -> None:
    from stepml.core import gc

    day = 86_400.0
    now = gc.run_started("20260601T000000-aaaaaa") or 0.0
    runs = [
        {"run_id": "a", "started_at": now - 90 * day, "status": "succeeded"},
        {"run_id": "b", "started_at": now - 60 * day, "status": "running"},  # a running run is never removed
        {"run_id": "c", "started_at": now - 40 * day, "status": "failed"},
        {"run_id": "d", "started_at": now - 1 * day, "status": "succeeded"},
    ]
    assert gc.old_runs(runs, now=now, retention_s=30 * day, keep_last=1) == ["a", "c"]
    assert gc.old_runs(runs, now=now, retention_s=30 * day, keep_last=2) == ["a"]
    failed = ["20260101T000000-x", "20260530T000000-y", "not-a-run-id"]
    assert gc.old_failures(failed, now=now, retention_s=30 * day) == ["20260101T000000-x"]
    days = ["2026-04-01", "2026-04-02", "2026-05-30", "junk"]
    assert gc.old_days(days, today="2026-06-01", retention_days=30, keep=["2026-04-02"]) == ["2026-04-01"]


def test_gc_experiment_leftovers(tmp_path: Path) -> None:
    """A served-log entry whose output gc removes goes with it; published days past the window go, the latest
    stays; another pipeline's entries are not this gc's."""
    import json

    from stepml.core.gc import run_started
    from stepml.gc import _experiment_leftovers
    from stepml.store.objects import LocalStore

    store = LocalStore(tmp_path)
    gone = "p/steps/serve/k1"
    for name, pipeline, prefix in (("e1", "p", gone), ("e2", "p", "p/steps/serve/k2"), ("e3", "q", gone)):
        entry = {"experiment": name, "pipeline": pipeline, "assignments": store.uri(f"{prefix}/a1/tables/assignments")}
        store.write_bytes(f"experiments/{name}/served/r-{name}.json", json.dumps(entry).encode())
    for day in ("2026-01-01", "2026-01-02", "2026-05-31"):
        store.write_bytes(f"serving/e1/served_date={day}/r.parquet", b"x")
    store.write_bytes("serving/e1/latest.json", json.dumps({"served_date": "2026-01-02"}).encode())
    now = run_started("20260601T000000-aaaaaa") or 0.0
    found = _experiment_leftovers(store, "p", {gone}, now=now, retention_days=30)
    assert sorted(found) == ["experiments/e1/served/r-e1.json", "serving/e1/served_date=2026-01-01"]
