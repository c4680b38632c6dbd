"""Drift statistics on reference-profile bins: definitions (settings) apart from calculations (pure functions).

Every statistic here is computed from two column profiles (:mod:`monitoring.profile`) that share bin edges or
categories: the reference (written by ``train``) and the current batch (streamed by the check step, merged over
partitions). Nothing reads raw reference rows, so a 1M-row batch is compared with a 200k-row reference in one
pass over the batch.

Numeric columns
    * **KS** - two-sample Kolmogorov-Smirnov: ``D = max |F_ref - F_cur|`` over the reference's quantile edges
      (exact for discrete columns, whose atoms are all edges; within ~1e-3 of the raw-data statistic for
      continuous ones with the default 1000 bins). p-value: the asymptotic Kolmogorov distribution at
      ``(sqrt(nm/(n+m)) + 0.12 + 0.11/sqrt(nm/(n+m))) * D`` (Stephens' small-sample correction).
    * **chi-square over the values** instead of KS for a discrete column: every reference value is an edge,
      there are at most ``discrete_max_values`` (20) of them and at least 5 rows per value. Each batch value
      counts at the nearest reference value (:func:`nearest_value_counts`; values beyond the range by more than
      half a spacing form their own cell). KS p-values assume a continuous distribution and reject a 0/1 column
      at a fraction of alpha; this test has its nominal size.
    * **PSI** - population stability index on ``psi_bins`` (10) reference-quantile groups of those bins, the
      outer groups open-ended (one group per value when the reference has at most ``psi_bins`` values), batch
      values counted at the nearest reference value where the reference is a lattice; a share of 0 is floored
      as evidently does (1e-4, or the smallest share / 1e6).
    * **Wasserstein** - ``integral |F_ref - F_cur| dx`` divided by the reference std (at least 1e-3, as
      evidently): the shift in reference standard deviations, the default effect size. Per bin, from the edge
      counts, the counts strictly inside and the sum of their relative positions (both profiles record them):
      where ``F_ref - F_cur`` keeps its sign inside a bin the integral is exact; where the reference has no
      value inside a bin (a lattice) its CDF is a step and the batch's values inside sit at their centre of
      mass (exact when they are one value, e.g. a lattice shifted by a constant); otherwise both CDFs are
      linear inside the bin. Outside the reference's range it is exact (the profiles' tail sums). So it equals
      scipy's ``wasserstein_distance / std`` on discrete columns (on or off their lattice) up to float rounding,
      and to ~1e-3 on continuous ones.

Categorical columns
    * **chi-square test of homogeneity** on the 2 x k table (reference counts, current counts) over the
      reference's categories plus the ``__other__`` bucket that holds unseen values; categories whose pooled
      expected count is below 5 are pooled into one cell (Cochran's rule), empty cells are dropped.
    * **PSI** over the same categories (the default effect size).

Verdict per column (:func:`evaluate_drift`): ``insufficient_data`` when either side has fewer than
``min_sample_size`` non-null values (``extra.reason`` says so in plain words); otherwise ``drift`` only when the
effect size is ``>= threshold`` AND the test's p-value, adjusted for multiple testing across the tested columns
(Benjamini-Hochberg by default), is ``< alpha``. Dataset drift: the share of drifted columns - features and
model outputs (label, score, regression prediction) - among those with a verdict ``>= dataset_drift_share``. No function here returns NaN or Inf: degenerate inputs (empty, constant, all-null,
unseen-only) give finite values and, where no test is possible, ``p = 1``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from monitoring.config import Correction, DriftSettings, Effect
from monitoring.drift_stats import (
    MIN_EXPECTED,
    MIN_STD,
    FloatArray,
    IntArray,
    _clean,
    adjust_pvalues,
    chi2_homogeneity,
    is_lattice,
    ks_from_counts,
    ks_pvalue,
    nearest_value_counts,
    psi_from_shares,
    psi_groups,
    psi_numeric,
    wasserstein_numeric,
)
from monitoring.profile import (
    OTHER,
    CategoricalColumnProfile,
    ColumnProfile,
    NumericColumnProfile,
)

Verdict = Literal["drift", "no_drift", "insufficient_data"]


@dataclass(frozen=True)
class ColumnDriftResult:
    column: str
    kind: str
    role: str
    test: str  # "ks" | "chi2"
    statistic: float  # KS D or chi-square
    p_value: float
    p_adjusted: float
    psi: float
    wasserstein: float | None  # normalized; numeric only
    effect: Effect
    value: float  # the effect size compared with the threshold
    threshold: float
    verdict: Verdict
    reference_size: int
    sample_size: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftReport:
    columns: list[ColumnDriftResult]
    drifted_share: float
    dataset_threshold: float
    dataset_verdict: Verdict
    tested_features: int
    alpha: float
    correction: Correction


def compare_column(
    name: str, ref: ColumnProfile, cur: ColumnProfile, settings: DriftSettings
) -> tuple[dict[str, Any], bool]:
    """The raw statistics of one column and whether it has enough data for a verdict (before correction)."""
    enabled, effect, threshold, min_n = settings.for_column(name, ref["kind"])
    n_ref, n_cur = int(ref["count"]), int(cur["count"])
    stats: dict[str, Any] = {
        "column": name,
        "kind": ref["kind"],
        "role": ref["role"],
        "effect": effect,
        "threshold": threshold,
        "reference_size": n_ref,
        "sample_size": n_cur,
        "extra": {"min_sample_size": min_n},
    }
    if ref["kind"] == "numeric":
        rn, cn = cast(NumericColumnProfile, ref), cast(NumericColumnProfile, cur)
        if is_lattice(rn, settings.discrete_max_values):
            near = nearest_value_counts(rn, cn)
            far_below = float((cn.get("upper_counts") or [0])[0])  # below the range by over half a spacing
            cells_r = np.r_[0, np.asarray(rn["bin_counts"], dtype=np.int64)]
            cells_c = np.r_[far_below, near[0] - far_below, near[1:]].astype(np.int64)
            stat, dof, p = chi2_homogeneity(cells_r, cells_c)
            stats |= {"test": "chi2", "statistic": stat, "p_value": p}
            stats["extra"] |= {"dof": dof, "discrete_values": len(rn["bin_edges"])}
        else:
            d = ks_from_counts(rn["bin_counts"], cn["bin_counts"], rn["edge_counts"], cn["edge_counts"])
            stats |= {"test": "ks", "statistic": d, "p_value": ks_pvalue(d, n_cur, n_ref)}
        stats |= {"psi": psi_numeric(rn, cn, settings.psi_bins), "wasserstein": wasserstein_numeric(rn, cn)}
        stats["value"] = stats["wasserstein"] if effect == "wasserstein" else stats["psi"]
    else:
        rc, cc = cast(CategoricalColumnProfile, ref), cast(CategoricalColumnProfile, cur)
        keys = list(rc["frequencies"])
        r = np.asarray([rc["frequencies"][k] for k in keys], dtype=np.int64)
        c = np.asarray([cc["frequencies"].get(k, 0) for k in keys], dtype=np.int64)
        stat, dof, p = chi2_homogeneity(r, c)
        rs = r / max(int(r.sum()), 1)
        cs = c / max(int(c.sum()), 1)
        stats |= {
            "test": "chi2",
            "statistic": stat,
            "p_value": p,
            "psi": psi_from_shares(rs, cs) if r.sum() and c.sum() else 0.0,
            "wasserstein": None,
        }
        stats["value"] = stats["psi"]
        stats["extra"] |= {
            "dof": dof,
            "unseen_share": _clean(float(cc["frequencies"].get(OTHER, 0)) / max(n_cur, 1), 0.0),
        }
    testable = enabled and n_ref >= min_n and n_cur >= min_n
    if not enabled:
        stats["extra"]["disabled"] = True
    elif not testable:
        stats["extra"]["reason"] = insufficient_reason(n_ref, n_cur, min_n, "unit" if ref.get("units") else "value")
    if ref.get("units"):
        stats["extra"]["units"] = list(ref["units"])
    return stats, testable


def insufficient_reason(n_ref: int, n_cur: int, min_n: int, unit: str = "value") -> str:
    """Why a column has no verdict, in plain words."""
    if n_ref == 0:
        return f"the reference has no non-null {unit}: nothing to compare with"
    if n_cur == 0:
        return f"the batch has no non-null {unit} in this column"
    sides = [f"the batch has {n_cur}"] if n_cur < min_n else []
    sides += [f"the reference has {n_ref}"] if n_ref < min_n else []
    return (
        f"too few to judge: {' and '.join(sides)} non-null {unit}(s); a verdict needs at least {min_n} on each "
        "side (min_sample_size)"
        + (" - rows of one unit are not independent, each unit counts once" if unit == "unit" else "")
    )


def evaluate_drift(
    reference: Mapping[str, ColumnProfile], current: Mapping[str, ColumnProfile], settings: DriftSettings
) -> DriftReport:
    """Compare every reference column with the current batch; correct for multiple testing; decide."""
    rows: list[tuple[dict[str, Any], bool]] = [
        compare_column(name, ref, current[name], settings) for name, ref in reference.items() if name in current
    ]
    tested = [s for s, ok in rows if ok]
    adjusted = adjust_pvalues([s["p_value"] for s in tested], settings.correction)
    for s, adj in zip(tested, adjusted, strict=True):
        s["p_adjusted"] = adj
    results: list[ColumnDriftResult] = []
    for s, ok in rows:
        if not ok:
            s["p_adjusted"] = s["p_value"]
            verdict: Verdict = "insufficient_data"
        elif s["value"] >= s["threshold"] and s["p_adjusted"] < settings.alpha:
            verdict = "drift"
        else:
            verdict = "no_drift"
        results.append(ColumnDriftResult(verdict=verdict, **s))
    # features and model outputs (predicted labels, scores, regression predictions) alike
    features = [r for r in results if r.verdict != "insufficient_data"]
    drifted = sum(r.verdict == "drift" for r in features)
    share = drifted / len(features) if features else 0.0
    if not features:
        dataset: Verdict = "insufficient_data"
    else:
        dataset = "drift" if drifted and share >= settings.dataset_drift_share else "no_drift"
    return DriftReport(
        columns=results,
        drifted_share=share,
        dataset_threshold=settings.dataset_drift_share,
        dataset_verdict=dataset,
        tested_features=len(features),
        alpha=settings.alpha,
        correction=settings.correction,
    )


__all__ = [
    "MIN_EXPECTED",
    "MIN_EXPECTED",
    "MIN_STD",
    "MIN_STD",
    "ColumnDriftResult",
    "DriftReport",
    "FloatArray",
    "IntArray",
    "Verdict",
    "adjust_pvalues",
    "chi2_homogeneity",
    "compare_column",
    "evaluate_drift",
    "insufficient_reason",
    "is_lattice",
    "ks_from_counts",
    "ks_pvalue",
    "nearest_value_counts",
    "psi_from_shares",
    "psi_groups",
    "psi_numeric",
    "wasserstein_numeric",
]
