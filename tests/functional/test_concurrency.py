"""Locks: concurrent runs compute each step once; a killed run leaves nothing that looks finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from stepml.app import make_store
from stepml.core import layout
from stepml.core import manifest as mf
from stepml.local.runner import LocalRunner, list_runs, load_run
from stepml.spec import load_spec

STEPS = ["extract_train", "extract_score", "train", "gate", "score", "check"]


def start(spec: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stepml.cli", "run", "--spec", str(spec), *extra],
        cwd=spec.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_four_concurrent_runs_compute_each_step_once(make_pipeline):
    spec = make_pipeline()
    procs = [start(spec) for _ in range(4)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    pipeline = load_spec(spec)
    store = make_store(pipeline.spec.artifact_root)
    runs = [load_run(store, pipeline.name, r) for r in list_runs(store, pipeline.name)]
    assert len(runs) == 4
    ran = {step: 0 for step in STEPS}
    for record in runs:
        assert record is not None and record.status == "succeeded"
        for s in record.steps:
            assert s.status in {"ran", "cached"}
            ran[s.name] += s.status == "ran"
    assert ran == dict.fromkeys(STEPS, 1)
    # and every run ended with the same committed outputs
    keys = {tuple(s.key for s in r.steps) for r in runs if r is not None}
    assert len(keys) == 1
    assert any("being computed by" in out for out in outputs), "some run waited on another's lock"


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_kill_9_during_training_then_run_completes_without_corrupt_output(make_pipeline):
    spec = make_pipeline()
    pipeline = load_spec(spec)
    store = make_store(pipeline.spec.artifact_root)
    plan = LocalRunner(pipeline, store).plan({})
    train_key = plan.step("train").key
    train_dir = Path(store.uri(layout.step_prefix(pipeline.name, "train", train_key)))
    lock_path = Path(store.uri(layout.lock_key(pipeline.name, "train", train_key)))

    # Given a run that is training
    proc = start(spec)
    _wait_for(lambda: train_dir.exists() and any(train_dir.iterdir()) and lock_path.exists())
    holder = json.loads(lock_path.read_text())
    assert holder["pid"] == proc.pid
    # When it is killed with SIGKILL
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # Then nothing looks finished: no manifest for train, only an orphan attempt and a stale lock
    assert mf.read_manifest(store, pipeline.name, "train", train_key) is None
    orphans = [p.name for p in train_dir.iterdir()]
    assert orphans and mf.MANIFEST not in orphans
    assert lock_path.exists()
    # and the training process died with its runner (no orphan keeps computing)
    time.sleep(0.5)
    survivors = [p.pid for p in psutil.process_iter(["cmdline"]) if "steps.train" in " ".join(p.info["cmdline"] or [])]
    assert survivors == []

    # When the pipeline runs again
    again = start(spec)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out
    assert "broke a stale lock" in out
    m = mf.read_manifest(store, pipeline.name, "train", train_key)
    assert m is not None and mf.damaged_files(store, m) == []
    # the orphan attempt was removed; only the committed attempt and the manifest remain
    remaining = sorted(p.name for p in train_dir.iterdir())
    assert remaining == sorted([mf.MANIFEST, mf.MANIFEST_HEAD, m["prefix"].rsplit("/", 1)[-1]])
    assert not set(orphans) & set(remaining)
    record = load_run(store, pipeline.name)
    assert record is not None and record.status == "succeeded"
    assert {s.name: s.status for s in record.steps}["train"] == "ran"
