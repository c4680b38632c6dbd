"""Typed check results and the report they make (its JSON is ``schemas/checks.schema.json``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from monitoring.config import CheckConfig

SCHEMA = "stepml.checks/2"


# dataset-level checks: their ``column`` is informative (the worst column) and not part of their key
DATASET_CHECKS = frozenset({"row_count", "max_null_fraction", "dataset_drift"})


Status = Literal["pass", "fail", "insufficient_data"]


Comparison = Literal[">=", "<=", "<", "=="]


_VERDICT_STATUS: dict[str, Status] = {"drift": "fail", "no_drift": "pass", "insufficient_data": "insufficient_data"}


@dataclass(frozen=True)
class CheckResult:
    name: str
    column: str | None
    value: float
    threshold: float
    comparison: Comparison
    status: Status
    sample_size: int
    reference_size: int | None = None
    details: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """Stable id: ``name`` for dataset-level checks, ``name:column`` for per-column ones."""
        return self.name if self.column is None or self.name in DATASET_CHECKS else f"{self.name}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InputStats:
    path: str
    rows: int
    columns: list[str]


@dataclass(frozen=True)
class CheckReport:
    rows: int
    checks: list[CheckResult]
    inputs: list[InputStats] = field(default_factory=list)
    config: CheckConfig = field(default_factory=CheckConfig)
    drift: dict[str, Any] | None = None  # dataset verdict + per-column statistics and plot data
    current_profile: dict[str, Any] | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def status(self) -> Literal["pass", "fail"]:
        return "fail" if self.failed else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "status": self.status,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
            "summary": {
                "failed": [c.key for c in self.failed],
                "insufficient_data": [c.key for c in self.checks if c.status == "insufficient_data"],
                "total": len(self.checks),
            },
            "drift": self.drift,
            "metrics": [],
            "inputs": [asdict(i) for i in self.inputs],
            "config": self.config.model_dump(mode="json"),
        }

    def describe_failures(self) -> str:
        parts = [f"{c.key} ({_fmt(c.value)} {c.comparison} {_fmt(c.threshold)} is false)" for c in self.failed]
        return f"{len(parts)} data-quality check(s) failed: " + "; ".join(parts)


def with_checks(report: CheckReport, more: Sequence[CheckResult]) -> CheckReport:
    return CheckReport(
        rows=report.rows,
        checks=[*report.checks, *more],
        inputs=report.inputs,
        config=report.config,
        drift=report.drift,
        current_profile=report.current_profile,
    )


def _result(
    name: str, column: str | None, value: float, threshold: float, comparison: Comparison, sample_size: int
) -> CheckResult:
    if not (math.isfinite(value) and math.isfinite(threshold)):  # cannot happen with validated config
        raise ValueError(f"check {name}: non-finite value {value!r} or threshold {threshold!r}")
    ok = value >= threshold if comparison == ">=" else value <= threshold
    return CheckResult(name, column, value, threshold, comparison, "pass" if ok else "fail", sample_size)


def _fmt(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:.6g}"
