"""The model registry in the artifact store: version numbers, idempotent registration, the champion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepml.store import LocalStore, join
from stepml.store.lock import Owner
from stepml.store.models import Registry

PIPELINE = "job-matching"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "artifacts")


@pytest.fixture
def registry(store: LocalStore) -> Registry:
    return Registry(store, PIPELINE, Owner.current("run-1"), clock=lambda: 1_700_000_000.0)


def trained(store: LocalStore, train_key: str) -> str:
    """Write a trained model's files as the train step would; return their prefix."""
    prefix = join(PIPELINE, "steps", "train", train_key, "model")
    store.write_bytes(join(prefix, "model.joblib"), f"model {train_key}".encode())
    store.write_bytes(join(prefix, "meta", "features.json"), b'["a", "b"]')
    return prefix


def entry(train_key: str, value: float, status: str = "approved") -> dict[str, Any]:
    return {"train_key": train_key, "metric": "roc_auc", "value": value, "status": status}


def register(registry: Registry, store: LocalStore, train_key: str, value: float, *, promote: bool) -> dict[str, Any]:
    return registry.register(
        entry(train_key, value, "approved" if promote else "rejected"),
        source_prefix=trained(store, train_key),
        promote=promote,
    )


def test_empty_registry(registry: Registry) -> None:
    assert registry.versions() == []
    assert registry.champion() is None


def test_register_increments_versions(registry: Registry, store: LocalStore) -> None:
    v1 = register(registry, store, "k1", 0.75, promote=True)
    v2 = register(registry, store, "k2", 0.80, promote=True)
    v3 = register(registry, store, "k3", 0.70, promote=False)
    assert [v1["version"], v2["version"], v3["version"]] == [1, 2, 3]
    assert [v["train_key"] for v in registry.versions()] == ["k1", "k2", "k3"]
    # each version records what it was given, who registered it and when
    assert v1["value"] == 0.75
    assert v1["metric"] == "roc_auc"
    assert v1["run_id"] == "run-1"
    assert v1["registered_at"] == 1_700_000_000.0
    assert store.exists(join(PIPELINE, "registry", "versions", "000001.json"))


def test_register_copies_the_model_files(registry: Registry, store: LocalStore) -> None:
    v1 = register(registry, store, "k1", 0.75, promote=True)
    prefix = v1["model_prefix"]
    assert prefix == join(PIPELINE, "registry", "models", "000001")
    assert store.read_bytes(join(prefix, "model.joblib")) == b"model k1"
    assert store.read_bytes(join(prefix, "meta", "features.json")) == b'["a", "b"]'
    # the copy outlives the step's own output
    store.delete_prefix(join(PIPELINE, "steps"))
    assert store.read_bytes(join(prefix, "model.joblib")) == b"model k1"


def test_same_train_key_returns_the_existing_version(registry: Registry, store: LocalStore) -> None:
    first = register(registry, store, "k1", 0.75, promote=False)
    again = register(registry, store, "k1", 0.75, promote=False)
    assert again == first
    assert len(registry.versions()) == 1
    # a later key still gets the next number
    assert register(registry, store, "k2", 0.8, promote=False)["version"] == 2


def test_promote_sets_the_champion(registry: Registry, store: LocalStore) -> None:
    register(registry, store, "k1", 0.75, promote=True)
    champion = registry.champion()
    assert champion is not None and champion["version"] == 1
    register(registry, store, "k2", 0.80, promote=True)
    champion = registry.champion()
    assert champion is not None
    assert champion["version"] == 2
    assert champion["train_key"] == "k2"


def test_rejected_candidate_keeps_the_champion(registry: Registry, store: LocalStore) -> None:
    # Given a champion
    register(registry, store, "k1", 0.80, promote=True)
    # When a worse candidate is registered without promotion
    candidate = register(registry, store, "k2", 0.70, promote=False)
    # Then it is recorded as a version, and the champion is unchanged
    assert candidate["version"] == 2
    assert candidate["status"] == "rejected"
    champion = registry.champion()
    assert champion is not None
    assert champion["version"] == 1
    assert champion["train_key"] == "k1"


def test_registering_an_existing_version_can_promote_it(registry: Registry, store: LocalStore) -> None:
    register(registry, store, "k1", 0.80, promote=True)
    register(registry, store, "k2", 0.85, promote=False)
    register(registry, store, "k2", 0.85, promote=True)  # e.g. a rerun whose gate now passes
    champion = registry.champion()
    assert champion is not None and champion["version"] == 2
    assert len(registry.versions()) == 2


def test_registry_lock_is_released(registry: Registry, store: LocalStore) -> None:
    register(registry, store, "k1", 0.75, promote=True)
    assert not store.exists(join(PIPELINE, "locks", "registry.json"))
    # and another registry (another run) can write right after
    other = Registry(store, PIPELINE, Owner.current("run-2"))
    assert register(other, store, "k2", 0.8, promote=False)["run_id"] == "run-2"


def test_registries_of_different_pipelines_are_separate(store: LocalStore, registry: Registry) -> None:
    register(registry, store, "k1", 0.75, promote=True)
    other = Registry(store, "another-pipeline", Owner.current("run-1"))
    assert other.versions() == []
    assert other.champion() is None
