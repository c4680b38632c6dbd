"""What a check's manifest records, the same locally and in AWS (standard library): from its report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPORT = "report.json"
HISTORY = "history.json"


def from_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """``rows``, ``summary`` and ``detail`` of a check's ``report.json``."""
    failed = report.get("summary", {}).get("failed", [])
    dataset = (report.get("drift") or {}).get("dataset") or {}
    note = ""
    if dataset:
        note = f", drift: {dataset.get('verdict')}"
        if dataset.get("drifted"):
            note += f" ({', '.join(dataset['drifted'])})"
    detail = f"{report.get('status')}: {len(report.get('checks', []))} checks"
    detail += (f", failed: {', '.join(failed)}" if failed else "") + note
    return {
        "rows": report.get("rows"),
        "summary": {
            "status": report.get("status"),
            "failed": failed,
            "drift": dataset or None,
            "insufficient_data": report.get("summary", {}).get("insufficient_data", []),
        },
        "detail": detail,
    }
