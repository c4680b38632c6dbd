"""The project's model registry: versions per model name, idempotent registration, champion, challenger,
promote / rollback / reject by hand, and the migration of a pipeline's registry from before named models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepml.errors import StepmlError
from stepml.store import LocalStore, join
from stepml.store.lock import Owner
from stepml.store.models import ModelRegistry, Registries

PIPELINE = "job-matching"
MODEL = "acceptance"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "artifacts")


@pytest.fixture
def registry(store: LocalStore) -> ModelRegistry:
    return ModelRegistry(store, MODEL, Owner.current("run-1"), clock=lambda: 1_700_000_000.0)


def trained(store: LocalStore, train_key: str) -> str:
    """Write a trained model's files as the train step would; return their prefix."""
    prefix = join(PIPELINE, "steps", "train", train_key, "model")
    store.write_bytes(join(prefix, "estimator.joblib"), f"model {train_key}".encode())
    store.write_bytes(join(prefix, "stepml_model.json"), json.dumps({"digest": f"digest-{train_key}"}).encode())
    return prefix


def register(registry: ModelRegistry, store: LocalStore, train_key: str, value: float, *, promote: bool,
             status: str | None = None) -> dict[str, Any]:  # fmt: skip
    entry = {"train_key": train_key, "metric": "roc_auc", "value": value}
    return registry.register(
        entry,
        source_prefix=trained(store, train_key),
        status=status or ("approved" if promote else "rejected"),
        promote=promote,
    )


def test_empty_registry(registry: ModelRegistry) -> None:
    assert registry.versions() == []
    assert registry.champion() is None and registry.challenger() is None


def test_register_increments_versions_and_records_the_digest(registry: ModelRegistry, store: LocalStore) -> None:
    v1 = register(registry, store, "k1", 0.75, promote=True)
    v2 = register(registry, store, "k2", 0.80, promote=True)
    v3 = register(registry, store, "k3", 0.70, promote=False)
    assert [v1["version"], v2["version"], v3["version"]] == [1, 2, 3]
    assert [v["train_key"] for v in registry.versions()] == ["k1", "k2", "k3"]
    assert v1["digest"] == "digest-k1" and v1["model"] == MODEL
    assert v1["run_id"] == "run-1" and v1["registered_at"] == 1_700_000_000.0
    assert store.exists(join("models", MODEL, "versions", "000001.json"))


def test_register_copies_the_model_files(registry: ModelRegistry, store: LocalStore) -> None:
    v1 = register(registry, store, "k1", 0.75, promote=True)
    prefix = v1["model_prefix"]
    assert prefix == join("models", MODEL, "files", "000001")
    store.delete_prefix(join(PIPELINE, "steps"))  # the copy outlives the step's own output
    assert store.read_bytes(join(prefix, "estimator.joblib")) == b"model k1"


def test_same_train_key_returns_the_existing_version(registry: ModelRegistry, store: LocalStore) -> None:
    first = register(registry, store, "k1", 0.75, promote=False)
    assert register(registry, store, "k1", 0.75, promote=False) == first
    assert register(registry, store, "k2", 0.8, promote=False)["version"] == 2


def test_aliases(registry: ModelRegistry, store: LocalStore) -> None:
    register(registry, store, "k1", 0.80, promote=True)
    register(registry, store, "k2", 0.70, promote=False)  # short of the gate
    assert registry.resolve("champion")["version"] == 1  # type: ignore[index]
    assert registry.resolve("challenger")["version"] == 2  # type: ignore[index]
    assert registry.resolve("2")["train_key"] == "k2"  # type: ignore[index]
    assert registry.resolve("9") is None
    register(registry, store, "k3", 0.85, promote=False, status="pending")  # awaiting approval
    assert registry.resolve("challenger")["version"] == 3  # type: ignore[index]
    with pytest.raises(StepmlError, match="unknown model alias"):
        registry.resolve("best")


def test_promote_rollback_and_reject_by_hand(registry: ModelRegistry, store: LocalStore) -> None:
    register(registry, store, "k1", 0.80, promote=True)
    register(registry, store, "k2", 0.85, promote=False, status="pending")
    promoted = registry.promote(2, by="alice")
    assert promoted["status"] == "approved" and registry.champion()["version"] == 2  # type: ignore[index]
    assert [h["version"] for h in registry.history()] == [1, 2] and registry.history()[-1]["by"] == "alice"
    registry.rollback()
    assert registry.champion()["version"] == 1  # type: ignore[index]
    assert registry.reject(2)["status"] == "rejected"
    with pytest.raises(StepmlError, match="no version 7"):
        registry.promote(7)


def test_rollback_without_history_is_an_error(registry: ModelRegistry, store: LocalStore) -> None:
    register(registry, store, "k1", 0.80, promote=True)
    with pytest.raises(StepmlError, match="no earlier champion"):
        registry.rollback()


def test_models_are_separate_and_the_lock_is_released(store: LocalStore, registry: ModelRegistry) -> None:
    register(registry, store, "k1", 0.75, promote=True)
    assert not store.exists(join("models", MODEL, "lock.json"))
    other = ModelRegistry(store, "other-model", Owner.current("run-2"))
    assert other.versions() == [] and other.champion() is None
    assert register(other, store, "k2", 0.8, promote=False)["run_id"] == "run-2"


def test_a_registry_from_before_named_models_is_migrated_with_its_champion(store: LocalStore) -> None:
    old = join(PIPELINE, "registry")
    for n, key in ((1, "k1"), (2, "k2")):
        prefix = join(old, "models", f"{n:06d}")
        store.write_bytes(join(prefix, "model.joblib"), f"model {key}".encode())
        version = {"version": n, "train_key": key, "value": 0.7 + n / 100, "model_prefix": prefix}
        store.write_bytes(join(old, "versions", f"{n:06d}.json"), json.dumps(version).encode())
    store.write_bytes(join(old, "champion.json"), json.dumps({"version": 1}).encode())
    registries = Registries(store, Owner.current("run-1"), legacy={PIPELINE: PIPELINE})
    migrated = registries.get(PIPELINE)
    assert [v["train_key"] for v in migrated.versions()] == ["k1", "k2"]
    assert migrated.champion()["version"] == 1  # type: ignore[index]
    files = migrated.champion()["model_prefix"]  # type: ignore[index]
    assert store.read_bytes(join(files, "model.joblib")) == b"model k1"
    assert len(migrated.champion()["digest"]) == 64  # type: ignore[index]
    assert PIPELINE in registries.names()
