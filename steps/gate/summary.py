"""What a gate's manifest records, the same locally and in AWS (standard library).

``model`` is the model downstream steps use (``{"uri", "version", "value"}``, as every step producing a model
records it): the candidate when it passed, else the champion it kept. Versions are the registry's (local registry
versions, SageMaker model package versions); ``uri`` is where the model is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def summary(
    *,
    passed: bool,
    reasons: Sequence[str],
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``candidate``/``champion``: ``{"version", "value", "uri", "digest"}`` (the candidate also ``train_key``)."""
    chosen = candidate if passed or champion is None else champion
    return {
        "passed": passed,
        "reasons": list(reasons),
        "candidate": {k: candidate.get(k) for k in ("version", "value", "train_key", "uri")},
        "champion_before": {k: champion.get(k) for k in ("version", "value", "uri")} if champion else None,
        "model": {k: chosen.get(k) for k in ("version", "value", "uri", "digest")},
    }


def detail(data: Mapping[str, Any]) -> str:
    model = data["model"]
    verdict = f"promoted v{model['version']}" if data["passed"] else f"kept champion v{model['version']}"
    return f"{verdict}: {data['reasons'][0]}" if data["reasons"] else verdict
