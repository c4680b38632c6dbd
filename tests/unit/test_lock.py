"""Step locks: exclusive, leased, renewed by a heartbeat, broken when stale (expired lease or dead local holder)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stepml.store import LocalStore, S3Store, Store
from stepml.store.lock import Owner, StepLock, holder_alive

KEY = "job-matching/locks/train-0123456789abcdef0123.json"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "artifacts")


@pytest.fixture
def s3_store() -> Iterator[S3Store]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bucket")
        yield S3Store("s3://bucket/stepml", client)


@pytest.fixture
def locks() -> Iterator[list[StepLock]]:
    """Locks created by a test are released at the end, so no heartbeat thread outlives it."""
    made: list[StepLock] = []
    yield made
    for lock in made:
        lock.release()


def new_lock(store: Store, locks: list[StepLock], run_id: str, **kwargs: Any) -> StepLock:
    lock = StepLock(store, KEY, Owner.current(run_id), **kwargs)
    locks.append(lock)
    return lock


def record(*, host: str, pid: int, expires_at: float, pid_started: float = 0.0, run_id: str = "old-run") -> bytes:
    return json.dumps(
        {
            "nonce": "someone-else",
            "run_id": run_id,
            "host": host,
            "pid": pid,
            "pid_started": pid_started,
            "acquired_at": expires_at - 60,
            "expires_at": expires_at,
        }
    ).encode()


# ---------------------------------------------------------------- acquire / release / contention
def test_acquire_and_release(store: LocalStore, locks: list[StepLock]) -> None:
    lock = new_lock(store, locks, "run-1")
    assert lock.acquire() is True
    holder = lock.holder()
    assert holder is not None
    assert holder["run_id"] == "run-1"
    assert holder["pid"] == os.getpid()
    assert holder["host"] == socket.gethostname()
    assert holder["expires_at"] > time.time()
    assert lock.token is not None
    lock.release()
    assert lock.holder() is None
    assert lock.token is None
    assert not store.exists(KEY)


def test_second_lock_cannot_acquire_while_held(store: LocalStore, locks: list[StepLock]) -> None:
    first = new_lock(store, locks, "run-1")
    second = new_lock(store, locks, "run-2")
    assert first.acquire() is True
    # Given a live holder (this process) with a valid lease / Then a second lock cannot take it
    assert second.acquire() is False
    assert second.broke is None
    assert second.token is None
    holder = first.holder()
    assert holder is not None and holder["run_id"] == "run-1"
    # When the first releases / Then the second can
    first.release()
    assert second.acquire() is True
    holder = second.holder()
    assert holder is not None and holder["run_id"] == "run-2"
    assert second.broke is None  # it was free, not broken


# ---------------------------------------------------------------- stale locks
def test_expired_lease_is_broken(store: LocalStore, locks: list[StepLock]) -> None:
    # Given a lock record from another host whose lease ended at t=500
    stale = record(host="another-host", pid=12345, expires_at=500.0)
    store.write_bytes(KEY, stale)
    # When a lock whose clock says t=1000 tries to acquire
    lock = new_lock(store, locks, "run-1", clock=lambda: 1000.0)
    assert lock.acquire() is True
    # Then it broke the stale lock and holds it now
    assert lock.broke == json.loads(stale)
    holder = lock.holder()
    assert holder is not None and holder["run_id"] == "run-1"
    assert holder["expires_at"] == 1000.0 + lock.lease


def test_valid_lease_on_another_host_is_not_broken(store: LocalStore, locks: list[StepLock]) -> None:
    stale = record(host="another-host", pid=12345, expires_at=500.0)
    store.write_bytes(KEY, stale)
    lock = new_lock(store, locks, "run-1", clock=lambda: 400.0)
    assert lock.acquire() is False
    assert lock.broke is None
    assert store.read_bytes(KEY) == stale


def test_dead_holder_on_this_host_is_broken_at_once(store: LocalStore, locks: list[StepLock]) -> None:
    # Given a lock held by a process on this host that has exited, with a lease far in the future
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store.write_bytes(KEY, record(host=socket.gethostname(), pid=proc.pid, expires_at=time.time() + 86_400))
    # When another lock tries / Then it takes it at once
    lock = new_lock(store, locks, "run-1")
    assert lock.acquire() is True
    assert lock.broke is not None and lock.broke["pid"] == proc.pid
    holder = lock.holder()
    assert holder is not None and holder["run_id"] == "run-1"


def test_live_holder_with_valid_lease_is_not_broken(store: LocalStore, locks: list[StepLock]) -> None:
    me = Owner.current("holder")
    held = record(host=me.host, pid=me.pid, pid_started=me.pid_started, expires_at=time.time() + 3600)
    store.write_bytes(KEY, held)
    lock = new_lock(store, locks, "run-1")
    assert lock.acquire() is False
    assert lock.broke is None
    assert store.read_bytes(KEY) == held


def test_reused_pid_is_a_dead_holder(store: LocalStore, locks: list[StepLock]) -> None:
    # this process's pid, but the record says the holder started an hour before this process did
    me = Owner.current("holder")
    store.write_bytes(
        KEY, record(host=me.host, pid=me.pid, pid_started=me.pid_started - 3600, expires_at=time.time() + 3600)
    )
    lock = new_lock(store, locks, "run-1")
    assert lock.acquire() is True
    assert lock.broke is not None


def test_corrupt_lock_record_is_broken(store: LocalStore, locks: list[StepLock]) -> None:
    store.write_bytes(KEY, b"{not json")
    lock = new_lock(store, locks, "run-1")
    assert lock.acquire() is True
    assert lock.broke == {}


@pytest.mark.parametrize(
    ("info", "now", "alive"),
    [
        ({"host": "elsewhere", "pid": 1, "expires_at": 100.0}, 99.0, True),
        ({"host": "elsewhere", "pid": 1, "expires_at": 100.0}, 101.0, False),
        ({}, 1.0, False),
    ],
)
def test_holder_alive(info: dict[str, Any], now: float, alive: bool) -> None:
    assert holder_alive(info, now=now) is alive


# ---------------------------------------------------------------- renew and heartbeat
def test_renew_detects_a_lost_lock(store: LocalStore, locks: list[StepLock]) -> None:
    lock = new_lock(store, locks, "run-1")
    assert lock.acquire() is True
    assert lock.renew() is True
    # When the object is deleted under it and another run takes the lock
    store.delete_prefix(KEY)
    other = new_lock(store, locks, "run-2")
    assert other.acquire() is True
    # Then renewing reports the loss, and releasing does not remove the other run's lock
    assert lock.renew() is False
    assert lock.lost is True
    lock.release()
    holder = other.holder()
    assert holder is not None and holder["run_id"] == "run-2"


def test_renew_extends_the_lease(store: LocalStore, locks: list[StepLock]) -> None:
    now = [1000.0]
    lock = new_lock(store, locks, "run-1", clock=lambda: now[0], lease_seconds=60)
    assert lock.acquire() is True
    token = lock.token
    now[0] = 1030.0
    assert lock.renew() is True
    holder = lock.holder()
    assert holder is not None and holder["expires_at"] == 1090.0
    assert lock.token != token


def test_heartbeat_keeps_the_lease(store: LocalStore, locks: list[StepLock]) -> None:
    # Given a 0.3 s lease / When we hold it for 0.5 s without renewing by hand
    lock = new_lock(store, locks, "run-1", lease_seconds=0.3)
    assert lock.acquire() is True
    first = lock.holder()
    assert first is not None
    time.sleep(0.5)
    # Then the heartbeat has renewed it: still ours, lease in the future, nobody else can take it
    holder = lock.holder()
    assert holder is not None
    assert holder["nonce"] == first["nonce"]
    assert holder["expires_at"] > first["expires_at"]
    assert holder["expires_at"] > time.time()
    assert lock.lost is False
    assert new_lock(store, locks, "run-2").acquire() is False


# ---------------------------------------------------------------- the same on S3
def test_s3_acquire_contend_release(s3_store: S3Store, locks: list[StepLock]) -> None:
    first = new_lock(s3_store, locks, "run-1")
    second = new_lock(s3_store, locks, "run-2")
    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert not s3_store.exists(KEY)
    assert second.acquire() is True
    holder = second.holder()
    assert holder is not None and holder["run_id"] == "run-2"


def test_s3_expired_lease_is_broken(s3_store: S3Store, locks: list[StepLock]) -> None:
    stale = record(host="another-host", pid=12345, expires_at=500.0)
    s3_store.write_bytes(KEY, stale)
    assert new_lock(s3_store, locks, "run-0", clock=lambda: 400.0).acquire() is False
    lock = new_lock(s3_store, locks, "run-1", clock=lambda: 1000.0)
    assert lock.acquire() is True
    assert lock.broke == json.loads(stale)
    holder = lock.holder()
    assert holder is not None and holder["run_id"] == "run-1"
