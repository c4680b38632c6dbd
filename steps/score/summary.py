"""What a score step records, the same locally and in AWS (standard library): per partition, then merged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def label(version: Any) -> str:
    """The ``model_version`` written to every scored row: ``v<N>`` for a registry version, else as given (a train
    step's key when the model comes straight from training)."""
    return f"v{version}" if isinstance(version, int) else str(version)


def partition_result(rows: int, version: Any) -> dict[str, Any]:
    return {"rows": rows, "summary": {"model_version": version, "partitions": 1}}


def merge(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The partitions' results as one: rows added up."""
    rows = sum(int(r.get("rows") or 0) for r in results)
    version = results[0].get("summary", {}).get("model_version") if results else None
    detail = f"{rows:,} rows scored with model {label(version)} in {len(results)} partition(s)"
    return {"rows": rows, "summary": {"model_version": version, "partitions": len(results)}, "detail": detail}
