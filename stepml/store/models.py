"""The project's model registry in the artifact store: per model name, its versions, aliases and champion.

    models/<name>/versions/<000001>.json   {version, model, digest, train_key, pipeline, step, metric, value,
                                            metrics, status, registered_at, run_id, model_prefix}
    models/<name>/files/<000001>/...       a copy of the model files (outlives cache clean-up and reruns)
    models/<name>/champion.json            {version, promoted_at, run_id, by, history: [earlier champions]}

``status`` is ``approved`` (it became or may become champion), ``pending`` (awaits a person: a gate with
``approval: manual``; SageMaker's PendingManualApproval) or ``rejected`` (short of the gate). Aliases: ``champion``;
``challenger``, the latest version that is not the champion; a number. Every pipeline of a project shares the
registry, so "train weekly, score daily" is two pipelines (or two schedules) and one model name. Changes happen
under one lock per model, so concurrent gates never hand out the same version number. In AWS the same role is
played by one SageMaker Model Package Group per model.

Registries written before named models (``<pipeline>/registry/...``, one per pipeline) are copied here the first
time the model is opened, champion kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from stepml.core.layout import is_inside, join
from stepml.errors import LockError, StepmlError
from stepml.store.lock import Owner, StepLock
from stepml.store.objects import Store

_log = logging.getLogger("stepml.registry")


class ModelRegistry:
    def __init__(
        self, store: Store, name: str, owner: Owner, *, legacy_pipeline: str | None = None, clock: Any = time.time
    ) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.clock = clock
        self.legacy_pipeline = legacy_pipeline
        self._migrated = False

    def _k(self, *parts: str) -> str:
        return join("models", self.name, *parts)

    # ------------------------------------------------------------------ reading
    def versions(self) -> list[dict[str, Any]]:
        """The registered versions; an entry of the wrong shape, or whose model lies outside the registry's
        ``files/`` folder, is skipped with a warning naming it."""
        self._migrate()
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
        if not isinstance(prefix, str) or not is_inside(prefix, self._k("files")) or prefix == self._k("files"):
            out.append(f"model_prefix {prefix!r} is not a folder of {self._k('files')}")
        files = entry.get("files", {})
        if not isinstance(files, dict) or not all(isinstance(d, str) and len(d) == 64 for d in files.values()):
            out.append("files is not a mapping of file -> sha256")
        return out

    def get(self, version: int) -> dict[str, Any]:
        """One registered version; a StepmlError when there is none."""
        for v in self.versions():
            if int(v["version"]) == version:
                return v
        raise StepmlError(f"model {self.name!r} has no version {version}")

    def _pointer(self) -> dict[str, Any] | None:
        """The champion pointer; a malformed one is ignored with a warning (as if there were no champion)."""
        self._migrate()
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
        return pointer

    def champion(self) -> dict[str, Any] | None:
        pointer = self._pointer()
        if pointer is None:
            return None
        return next((v for v in self.versions() if v["version"] == pointer["version"]), None)

    def challenger(self) -> dict[str, Any] | None:
        """The latest registered version that is not the champion (awaiting approval, or short of the gate)."""
        champion = self.champion()
        others = [v for v in self.versions() if champion is None or v["version"] != champion["version"]]
        return others[-1] if others else None

    def resolve(self, alias: str) -> dict[str, Any] | None:
        """``champion``, ``challenger`` or a version number -> that version (None when there is none)."""
        if alias == "champion":
            return self.champion()
        if alias == "challenger":
            return self.challenger()
        if alias.isdigit():
            return next((v for v in self.versions() if v["version"] == int(alias)), None)
        raise StepmlError(f"unknown model alias {alias!r}: expected champion, challenger or a version number")

    def history(self) -> list[dict[str, Any]]:
        pointer = self._pointer()
        return [*pointer.get("history", []), {k: v for k, v in pointer.items() if k != "history"}] if pointer else []

    # ------------------------------------------------------------------ writing
    def _locked(self) -> StepLock:
        lock = StepLock(self.store, self._k("lock.json"), self.owner, lease_seconds=30)
        deadline = self.clock() + 120
        while not lock.acquire():
            if self.clock() > deadline:
                raise LockError(f"the registry of model {self.name!r} stayed locked for 120 s")
            time.sleep(0.1)
        return lock

    def register(self, entry: dict[str, Any], *, source_prefix: str, status: str, promote: bool) -> dict[str, Any]:
        """Add a version holding a copy of the model files under ``source_prefix`` (or return the existing
        version for the same train key, its status updated); promote it to champion if asked."""
        lock = self._locked()
        try:
            existing = [v for v in self.versions() if v.get("train_key") == entry["train_key"]]
            if existing:
                version = existing[-1]
                if version.get("status") != status and not (version.get("status") == "approved" and not promote):
                    version = {**version, "status": status}
                    self._write_version(version)
            else:
                number = max((int(v["version"]) for v in self.versions()), default=0) + 1
                model_prefix = self._k("files", f"{number:06d}")
                files = {}
                for key in self.store.list(source_prefix):
                    rel = key[len(source_prefix) + 1 :]
                    data = self.store.read_bytes(key)
                    self.store.write_bytes(join(model_prefix, rel), data)
                    files[rel] = hashlib.sha256(data).hexdigest()  # checked before the model is loaded
                version = {
                    **entry,
                    "model": self.name,
                    "version": number,
                    "digest": entry.get("digest") or self._digest(model_prefix),
                    "status": status,
                    "model_prefix": model_prefix,
                    "files": files,
                    "registered_at": self.clock(),
                    "run_id": self.owner.run_id,
                }
                self._write_version(version)
            if promote:
                self._promote(version["version"], by=f"gate in run {self.owner.run_id}")
            return version
        finally:
            lock.release()

    def promote(self, version: int, *, by: str = "manual") -> dict[str, Any]:
        """Make ``version`` the champion by hand (approving it if it was pending or rejected)."""
        lock = self._locked()
        try:
            entry = self.get(version)
            if entry.get("status") != "approved":
                entry = {**entry, "status": "approved"}
                self._write_version(entry)
            self._promote(version, by=by)
            return entry
        finally:
            lock.release()

    def rollback(self, *, by: str = "manual") -> dict[str, Any]:
        """Make the previous champion the champion again."""
        history = self.history()
        current = history[-1]["version"] if history else None
        earlier = [h["version"] for h in history[:-1] if h["version"] != current]
        if not earlier:
            raise StepmlError(f"model {self.name!r} has no earlier champion to roll back to")
        return self.promote(earlier[-1], by=by)

    def reject(self, version: int) -> dict[str, Any]:
        lock = self._locked()
        try:
            entry = {**self.get(version), "status": "rejected"}
            self._write_version(entry)
            return entry
        finally:
            lock.release()

    def _promote(self, version: int, *, by: str) -> None:
        before = self._pointer()
        history = [*before.get("history", []), {k: v for k, v in before.items() if k != "history"}] if before else []
        if before is not None and before.get("version") == version:
            return
        pointer = {"version": version, "promoted_at": self.clock(), "run_id": self.owner.run_id, "by": by}
        self.store.write_bytes(self._k("champion.json"), json.dumps({**pointer, "history": history[-50:]}).encode())

    def _write_version(self, version: dict[str, Any]) -> None:
        key = self._k("versions", f"{int(version['version']):06d}.json")
        self.store.write_bytes(key, json.dumps(version, indent=2).encode())

    def _digest(self, model_prefix: str) -> str:
        """A copied model's content digest: its stepml_model.json's, else (an older model) its files'."""
        meta_key = join(model_prefix, "stepml_model.json")
        if self.store.exists(meta_key):
            recorded = json.loads(self.store.read_bytes(meta_key)).get("digest")
            if isinstance(recorded, str) and recorded:
                return recorded
        h = hashlib.sha256()
        for key in sorted(self.store.list(model_prefix)):
            if key.rsplit("/", 1)[-1] in ("model.joblib", "model_meta.json"):
                h.update(key.rsplit("/", 1)[-1].encode() + b"\0" + self.store.read_bytes(key))
        return h.hexdigest()

    # ------------------------------------------------------------------ migration
    def _migrate(self) -> None:
        """Copy a pre-named-models registry (``<pipeline>/registry``) here once, champion kept."""
        if self._migrated or not self.legacy_pipeline:
            return
        self._migrated = True
        old = join(self.legacy_pipeline, "registry")
        if self.store.list(self._k("versions")) or not self.store.list(join(old, "versions")):
            return
        for key in sorted(self.store.list(join(old, "versions"))):
            try:
                entry = json.loads(self.store.read_bytes(key))
            except ValueError:
                entry = None
            source = entry.get("model_prefix") if isinstance(entry, dict) else None
            if (
                not isinstance(source, str)
                or not is_inside(source, join(old, "models"))
                or not isinstance(entry.get("version") if isinstance(entry, dict) else None, int)
            ):
                _log.warning("not migrating the model registry entry %s: not a version of %s", key, old)
                continue
            assert isinstance(entry, dict)
            number = int(entry["version"])
            model_prefix = self._k("files", f"{number:06d}")
            files = {}
            for src in self.store.list(source):
                data = self.store.read_bytes(src)
                self.store.write_bytes(join(model_prefix, src[len(source) + 1 :]), data)
                files[src[len(source) + 1 :]] = hashlib.sha256(data).hexdigest()
            status = entry.get("status", "approved")
            migrated = {
                **entry,
                "model": self.name,
                "pipeline": self.legacy_pipeline,
                "status": status,
                "model_prefix": model_prefix,
                "files": files,
                "migrated_from": key,
            }
            migrated["digest"] = self._digest(model_prefix)
            self._write_version(migrated)
        got = self.store.read_versioned(join(old, "champion.json"))
        try:
            pointer = json.loads(got[0]) if got is not None else None
        except ValueError:
            pointer = None
        if isinstance(pointer, dict) and isinstance(pointer.get("version"), int):
            self.store.write_bytes(self._k("champion.json"), json.dumps({**pointer, "history": []}).encode())


class Registries:
    """The model registries a run uses, opened on first use. A model takes over the pre-named-models registry of
    the pipeline it is named after (a spec's single ``model`` is named after its pipeline); ``legacy`` maps other
    names."""

    def __init__(self, store: Store, owner: Owner, *, legacy: dict[str, str] | None = None) -> None:
        self.store = store
        self.owner = owner
        self.legacy = dict(legacy or {})
        self._open: dict[str, ModelRegistry] = {}

    def get(self, name: str) -> ModelRegistry:
        if name not in self._open:
            legacy = self.legacy.get(name, name)
            self._open[name] = ModelRegistry(self.store, name, self.owner, legacy_pipeline=legacy)
        return self._open[name]

    def resolve(self, step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        """A :data:`stepml.core.plan.Resolver`: a step's model lookup -> the version the registry holds."""
        found = self.get(str(lookup["model"])).resolve(str(lookup["alias"]))
        if found is None:
            return None
        return {
            "model": found["model"],
            "version": found["version"],
            "digest": found["digest"],
            "uri": self.store.uri(found["model_prefix"]),
            "train_key": found.get("train_key"),
            "value": found.get("value"),
        }

    def versions(self) -> list[dict[str, Any]]:
        """Every registered version of every model (what a step may load a registered model from)."""
        return [v for name in self.names() for v in self.get(name).versions()]

    def names(self) -> list[str]:
        found = {k.split("/")[1] for k in self.store.list("models") if k.count("/") >= 2}
        return sorted(found | {n for n in self.legacy if self.get(n).versions()})
