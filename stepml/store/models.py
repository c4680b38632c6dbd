"""A model registry in the artifact store: versions and the champion.

    <pipeline>/registry/versions/<000001>.json   {version, model_prefix, train_key, metric, value, status, ...}
    <pipeline>/registry/models/<000001>/...       a copy of the model files (outlives cache clean-up and reruns)
    <pipeline>/registry/models/<000001>/...       a copy of the model files (outlives reruns and clean-up)
    <pipeline>/registry/champion.json            {version, promoted_at, run_id}

Changes happen under one registry lock, so concurrent gates never hand out the same version number. In AWS the
same role is played by a SageMaker Model Package Group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from stepml.core.layout import is_inside, join
from stepml.errors import LockError, StepmlError
from stepml.store.lock import Owner, StepLock
from stepml.store.objects import Store

_log = logging.getLogger("stepml.registry")


class Registry:
    def __init__(self, store: Store, pipeline: str, owner: Owner, *, clock: Any = time.time) -> None:
        self.store = store
        self.pipeline = pipeline
        self.owner = owner
        self.clock = clock

    def _k(self, *parts: str) -> str:
        return join(self.pipeline, "registry", *parts)

    def versions(self) -> list[dict[str, Any]]:
        """The registered versions; an entry of the wrong shape, or whose model lies outside the registry's
        ``models/`` folder, is skipped with a warning naming it."""
        out = []
        for k in self.store.list(self._k("versions")):
            if k.endswith(".json"):
                try:
                    entry = json.loads(self.store.read_bytes(k))
                except ValueError as exc:
                    entry, found = None, [f"not JSON ({exc})"]
                else:
                    found = self._problems(entry)
                if found:
                    _log.warning("ignoring the model registry entry %s: %s", self.store.uri(k), "; ".join(found))
                    continue
                out.append(entry)
        return sorted(out, key=lambda v: int(v["version"]))

    def _problems(self, entry: Any) -> list[str]:
        if not isinstance(entry, dict):
            return [f"not a JSON object but {type(entry).__name__}"]
        out = []
        if not isinstance(entry.get("version"), int) or isinstance(entry.get("version"), bool):
            out.append(f"version {entry.get('version')!r} is not an integer")
        prefix = entry.get("model_prefix")
        if not isinstance(prefix, str) or not is_inside(prefix, self._k("models")) or prefix == self._k("models"):
            out.append(f"model_prefix {prefix!r} is not a folder of {self._k('models')}")
        files = entry.get("files", {})
        if not isinstance(files, dict) or not all(isinstance(d, str) and len(d) == 64 for d in files.values()):
            out.append("files is not a mapping of file -> sha256")
        return out

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
        try:
            pointer = json.loads(got[0])
        except ValueError:
            pointer = None
        if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), int):
            _log.warning(
                "ignoring the champion pointer %s: not an object with an integer version",
                self.store.uri(self._k("champion.json")),
            )
            return None
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
                files = {}
                for key in self.store.list(source_prefix):
                    rel = key[len(source_prefix) + 1 :]
                    data = self.store.read_bytes(key)
                    self.store.write_bytes(join(model_prefix, rel), data)
                    files[rel] = hashlib.sha256(data).hexdigest()  # checked before the model is loaded
                version = {
                    **entry,
                    "version": number,
                    "model_prefix": model_prefix,
                    "files": files,
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
