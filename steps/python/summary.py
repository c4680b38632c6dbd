"""What a python step records, the same locally and in AWS (standard library): per process, then merged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def merge(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result, or the partitions' results as one: rows and table sizes added up, metrics per partition."""
    if len(results) == 1:
        return dict(results[0])
    tables: dict[str, int] = {}
    for r in results:
        for name, n in r.get("summary", {}).get("tables", {}).items():
            tables[name] = tables.get(name, 0) + int(n)
    rows = tables.get("", sum(tables.values()) if tables else None)
    first = results[0].get("summary", {}) if results else {}
    summary = {
        "function": first.get("function"),
        "tables": tables,
        "metrics": {},
        "partition_metrics": [r.get("summary", {}).get("metrics", {}) for r in results],
    }
    shown = ", ".join(f"{n or 'table'} {c:,} rows" for n, c in tables.items()) or "no table"
    return {
        "rows": rows,
        "summary": summary,
        "detail": f"{first.get('function')}: {shown} in {len(results)} partitions",
    }
