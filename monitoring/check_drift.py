"""Drift results as checks and as the report's drift section (with the bins the HTML report plots)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from monitoring.check_results import _VERDICT_STATUS, CheckResult
from monitoring.drift import DriftReport, psi_groups
from monitoring.profile import (
    ColumnProfile,
    Profile,
)


def drift_checks(report: DriftReport) -> list[CheckResult]:
    """``drift:<column>`` per profiled column and ``dataset_drift``."""
    out = []
    for r in report.columns:
        status = _VERDICT_STATUS[r.verdict]
        details = {
            "test": r.test,
            "statistic": r.statistic,
            "p_value": r.p_value,
            "p_adjusted": r.p_adjusted,
            "alpha": report.alpha,
            "correction": report.correction,
            "effect": r.effect,
            "psi": r.psi,
            "wasserstein": r.wasserstein,
            "role": r.role,
            "kind": r.kind,
            **r.extra,
        }
        out.append(
            CheckResult("drift", r.column, r.value, r.threshold, "<", status, r.sample_size, r.reference_size, details)
        )
    dataset_status = _VERDICT_STATUS[report.dataset_verdict]
    drifted = [r.column for r in report.columns if r.verdict == "drift"]
    dataset: dict[str, Any] = {"drifted": drifted, "tested_features": report.tested_features}
    if report.dataset_verdict == "insufficient_data":
        dataset["reason"] = "no column has enough non-null values for a verdict (see each drift check's reason)"
    out.append(
        CheckResult(
            "dataset_drift",
            None,
            report.drifted_share,
            report.dataset_threshold,
            "<",
            dataset_status,
            report.tested_features,
            None,
            dataset,
        )
    )
    return out


def drift_section(report: DriftReport, reference: Profile, current: Mapping[str, Any], psi_bins: int) -> dict[str, Any]:
    """The report's ``drift`` section: the dataset verdict and, per column, statistics and plot data."""
    columns: dict[str, Any] = {}
    for r in report.columns:
        ref, cur = reference["columns"][r.column], current["columns"][r.column]
        columns[r.column] = {
            "verdict": r.verdict,
            "role": r.role,
            "kind": r.kind,
            "test": r.test,
            "statistic": r.statistic,
            "p_value": r.p_value,
            "p_adjusted": r.p_adjusted,
            "psi": r.psi,
            "wasserstein": r.wasserstein,
            "effect": r.effect,
            "value": r.value,
            "threshold": r.threshold,
            "reference_size": r.reference_size,
            "sample_size": r.sample_size,
            "bins": plot_bins(ref, cur, psi_bins),
        }
    return {
        "dataset": {
            "verdict": report.dataset_verdict,
            "drifted_share": report.drifted_share,
            "threshold": report.dataset_threshold,
            "tested_features": report.tested_features,
            "drifted": [r.column for r in report.columns if r.verdict == "drift"],
            "alpha": report.alpha,
            "correction": report.correction,
        },
        "columns": columns,
    }


def plot_bins(ref: ColumnProfile, cur: ColumnProfile, psi_bins: int) -> list[dict[str, Any]]:
    """Reference and current shares per PSI group (numeric) or category, for the report's plots."""
    if ref["kind"] == "numeric":
        rn, cn = ref, cur
        r = np.asarray(rn["bin_counts"], dtype=np.float64)  # type: ignore[typeddict-item]
        c = np.asarray(cn["bin_counts"], dtype=np.float64)  # type: ignore[typeddict-item]
        edges: list[float] = rn["bin_edges"]  # type: ignore[typeddict-item]
        if r.size == 0:
            return []
        g = psi_groups(r.astype(np.int64), psi_bins)
        k = int(g.max()) + 1
        rs = np.bincount(g, weights=r, minlength=k) / max(r.sum(), 1)
        cs = np.bincount(g, weights=c, minlength=k) / max(c.sum(), 1)
        out = []
        for j in range(k):
            idx = np.flatnonzero(g == j)
            hi = int(idx.max())
            upper = f"{edges[hi]:.4g}" if hi < len(edges) else "inf"
            out.append({"label": f"<= {upper}", "reference": float(rs[j]), "current": float(cs[j])})
        return out
    rf: dict[str, int] = ref["frequencies"]  # type: ignore[typeddict-item]
    cf: dict[str, int] = cur["frequencies"]  # type: ignore[typeddict-item]
    rt, ct = max(sum(rf.values()), 1), max(sum(cf.values()), 1)
    return [{"label": k, "reference": rf[k] / rt, "current": cf.get(k, 0) / ct} for k in rf]
