"""A lock per step key, so two runs never compute the same step at the same time.

The lock is an object in the artifact store (``<pipeline>/locks/<step>-<key>.json``) created with an exclusive
write. It carries a lease that a heartbeat thread renews with compare-and-swap. A lock is stale - and any runner
may break it with a compare-and-swap delete - when its lease has expired, or at once when its holder ran on this
host and that process is gone (killed, crashed). A holder that finds its lock replaced knows it has lost it and
must not commit (``lost``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepml.store.objects import Store


@dataclass(frozen=True)
class Owner:
    run_id: str
    host: str
    pid: int
    pid_started: float

    @classmethod
    def current(cls, run_id: str) -> Owner:
        pid = os.getpid()
        return cls(run_id=run_id, host=socket.gethostname(), pid=pid, pid_started=_process_start(pid) or 0.0)


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def holder_alive(info: dict[str, Any], *, now: float) -> bool:
    """False when the lock's lease expired, or its holder ran on this host and is gone."""
    if float(info.get("expires_at", 0)) < now:
        return False
    return process_alive(str(info.get("host")), int(info.get("pid", -1)), info.get("pid_started")) is not False


def process_alive(host: str, pid: int, pid_started: float | None) -> bool | None:
    """Whether process ``pid`` (started at ``pid_started``, when known) still runs; None: another host, cannot
    tell."""
    if host != socket.gethostname():
        return None
    started = _process_start(pid)
    if started is None:
        return False
    return not (pid_started and abs(started - float(pid_started)) > 1.0)  # else the pid was reused


class StepLock:
    def __init__(
        self,
        store: Store,
        key: str,
        owner: Owner,
        *,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.key = key
        self.owner = owner
        self.lease = lease_seconds
        self.clock = clock
        self.token: str | None = None
        self.lost = False
        self.broke: dict[str, Any] | None = None  # the stale lock this one replaced, if any
        self._nonce = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        now = self.clock()
        return json.dumps(
            {
                "nonce": self._nonce,
                "run_id": self.owner.run_id,
                "host": self.owner.host,
                "pid": self.owner.pid,
                "pid_started": self.owner.pid_started,
                "acquired_at": now,
                "expires_at": now + self.lease,
            }
        ).encode()

    def holder(self) -> dict[str, Any] | None:
        got = self.store.read_versioned(self.key)
        if got is None:
            return None
        try:
            info: dict[str, Any] = json.loads(got[0])
        except ValueError:
            return {"corrupt": True}
        return info

    def acquire(self) -> bool:
        """Take the lock if it is free or stale; never blocks."""
        for _ in range(3):
            if self.store.create_exclusive(self.key, self._body()):
                got = self.store.read_versioned(self.key)
                if got is None or json.loads(got[0]).get("nonce") != self._nonce:
                    return False
                self.token = got[1]
                self._start_heartbeat()
                return True
            got = self.store.read_versioned(self.key)
            if got is None:
                continue  # released between our two calls: try again
            data, token = got
            try:
                info = json.loads(data)
            except ValueError:
                info = {}
            if holder_alive(info, now=self.clock()):
                return False
            if self.store.delete_if(self.key, token):
                self.broke = info
        return False

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat:{self.key}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            self.renew()

    def renew(self) -> bool:
        if self.token is None or self.lost:
            return False
        body = self._body()
        if not self.store.replace_if(self.key, body, self.token):
            self.lost = True
            return False
        got = self.store.read_versioned(self.key)
        if got is None or json.loads(got[0]).get("nonce") != self._nonce:
            self.lost = True
            return False
        self.token = got[1]
        return True

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.token is not None and not self.lost:
            self.store.delete_if(self.key, self.token)
        self.token = None
