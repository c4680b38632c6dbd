"""What a train step's manifest records, the same locally and in AWS (standard library)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def summary(
    metrics: Mapping[str, Any], model_uri: str, key: str, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``metrics``: the entrypoint's ``metrics.json``; ``model_uri``: where the model is (a folder locally, SageMaker's
    ``model.tar.gz`` in AWS); ``key``: the step's key, the model's version until a gate registers it; ``meta``: the
    model's ``stepml_model.json`` (its name, content digest, hyperparameters).

    ``model`` is what every step producing a model records for its consumers: ``{"uri", "version", "value",
    "digest", "name"}``."""
    meta = meta or {}
    return {
        "metric": metrics["metric"],
        "value": metrics["value"],
        "metrics": dict(metrics.get("metrics", {})),
        "hyperparameters": dict(meta.get("hyperparameters", {})),
        "model": {
            "uri": model_uri,
            "version": key,
            "value": metrics["value"],
            "digest": meta.get("digest"),
            "name": meta.get("name"),
        },
    }


def rows(metrics: Mapping[str, Any]) -> int:
    return int(metrics.get("n_train", 0)) + int(metrics.get("n_validation", 0))


def detail(metrics: Mapping[str, Any]) -> str:
    n = metrics.get("n_validation")
    return f"{metrics['metric']}={metrics['value']:.4f} on {n:,} validation rows" if isinstance(n, int) else ""
