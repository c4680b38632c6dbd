"""A model registry in the artifact store: versions and the champion.

    <pipeline>/registry/versions/<000001>.json   {version, model_prefix, train_key, metric, value, status, ...}
    <pipeline>/registry/models/<000001>/...       a copy of the model files (outlives cache clean-up and reruns)
    <pipeline>/registry/models/<000001>/...       a copy of the model files (outlives reruns and clean-up)
    <pipeline>/registry/champion.json            {version, promoted_at, run_id}

Changes happen under one registry lock, so concurrent gates never hand out the same version number. In AWS the
same role is played by a SageMaker Model Package Group.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stepml.core.layout import join
from stepml.errors import LockError, StepmlError
from stepml.store.lock import Owner, StepLock
from stepml.store.objects import Store


class Registry:
    def __init__(self, store: Store, pipeline: str, owner: Owner, *, clock: Any = time.time) -> None:
        self.store = store
        self.pipeline = pipeline
        self.owner = owner
        self.clock = clock

    def _k(self, *parts: str) -> str:
        return join(self.pipeline, "registry", *parts)

    def versions(self) -> list[dict[str, Any]]:
        out = []
        for k in self.store.list(self._k("versions")):
            if k.endswith(".json"):
                out.append(json.loads(self.store.read_bytes(k)))
        return sorted(out, key=lambda v: int(v["version"]))

    def get(self, version: int) -> dict[str, Any]:
        """One registered version; a StepmlError when there is none."""
        for v in self.versions():
            if int(v["version"]) == version:
                return v
        raise StepmlError(f"model registry {self._k()} has no version {version}")

    def champion(self) -> dict[str, Any] | None:
        got = self.store.read_versioned(self._k("champion.json"))
        if got is None:
            return None
        pointer = json.loads(got[0])
        for v in self.versions():
            if v["version"] == pointer["version"]:
                return v
        return None

    def _locked(self) -> StepLock:
        lock = StepLock(self.store, join(self.pipeline, "locks", "registry.json"), self.owner, lease_seconds=30)
        deadline = self.clock() + 120
        while not lock.acquire():
            if self.clock() > deadline:
                raise LockError("the model registry stayed locked for 120 s")
            time.sleep(0.1)
        return lock

    def register(self, entry: dict[str, Any], *, source_prefix: str, promote: bool) -> dict[str, Any]:
        """Add a version holding a copy of the model files under ``source_prefix`` (or return the existing
        version for the same train key); promote it to champion if asked."""
        lock = self._locked()
        try:
            existing = [v for v in self.versions() if v.get("train_key") == entry["train_key"]]
            if existing:
                version = existing[-1]
            else:
                number = max((int(v["version"]) for v in self.versions()), default=0) + 1
                model_prefix = self._k("models", f"{number:06d}")
                for key in self.store.list(source_prefix):
                    rel = key[len(source_prefix) + 1 :]
                    self.store.write_bytes(join(model_prefix, rel), self.store.read_bytes(key))
                version = {
                    **entry,
                    "version": number,
                    "model_prefix": model_prefix,
                    "registered_at": self.clock(),
                    "run_id": self.owner.run_id,
                }
                self.store.write_bytes(
                    self._k("versions", f"{number:06d}.json"), json.dumps(version, indent=2).encode()
                )
            if promote:
                pointer = {"version": version["version"], "promoted_at": self.clock(), "run_id": self.owner.run_id}
                self.store.write_bytes(self._k("champion.json"), json.dumps(pointer).encode())
            return version
        finally:
            lock.release()
