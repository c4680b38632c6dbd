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
    * **PSI** - population stability index on ``psi_bins`` (10) reference-quantile groups of those bins, the
      outer groups open-ended; a share of 0 is floored as evidently does (1e-4, or the smallest share / 1e6).
    * **Wasserstein** - ``integral |F_ref - F_cur| dx`` with the CDFs linear inside each bin and exact outside
      the reference's range (the profiles' tail sums), divided by the reference std (at least 1e-3, as
      evidently): the shift in reference standard deviations. The default effect size.

Categorical columns
    * **chi-square test of homogeneity** on the 2 x k table (reference counts, current counts) over the
      reference's categories plus the ``__other__`` bucket that holds unseen values; categories whose pooled
      expected count is below 5 are pooled into one cell (Cochran's rule), empty cells are dropped.
    * **PSI** over the same categories (the default effect size).

Verdict per column (:func:`evaluate_drift`): ``insufficient_data`` when either side has fewer than
``min_sample_size`` non-null values; otherwise ``drift`` only when the effect size is ``>= threshold`` AND the
test's p-value, adjusted for multiple testing across the tested columns (Benjamini-Hochberg by default), is
``< alpha``. Dataset drift: the share of drifted feature columns among those with a verdict ``>=
dataset_drift_share``. No function here returns NaN or Inf: degenerate inputs (empty, constant, all-null,
unseen-only) give finite values and, where no test is possible, ``p = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from monitoring.config import Correction, DriftSettings, Effect
from monitoring.profile import (
    OTHER,
    CategoricalColumnProfile,
    ColumnProfile,
    NumericColumnProfile,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

Verdict = Literal["drift", "no_drift", "insufficient_data"]

MIN_STD = 1e-3  # the Wasserstein normalizer's floor (evidently's)
MIN_EXPECTED = 5.0  # Cochran's rule for the chi-square approximation


# ---------------------------------------------------------------------------------------------- definitions


# ---------------------------------------------------------------------------------------------- results


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


# ---------------------------------------------------------------------------------------------- statistics


def ks_from_counts(
    ref: Sequence[int] | IntArray,
    cur: Sequence[int] | IntArray,
    ref_at: Sequence[int] | IntArray | None = None,
    cur_at: Sequence[int] | IntArray | None = None,
) -> float:
    """max |F_ref - F_cur| at the bin edges and just below them (``*_at``: counts exactly at each edge).

    With every reference value an edge this is the exact two-sample statistic: between edges F_ref is flat
    and F_cur only rises, so the supremum is at an edge or at its left limit.
    """
    r, c = np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)
    m, n = r.sum(), c.sum()
    if m == 0 or n == 0 or r.size < 2:
        return 0.0
    fr, fc = np.cumsum(r[:-1]) / m, np.cumsum(c[:-1]) / n
    d = np.abs(fr - fc)
    if ref_at is not None and cur_at is not None:
        left = np.abs((fr - np.asarray(ref_at, dtype=np.float64) / m) - (fc - np.asarray(cur_at, dtype=np.float64) / n))
        d = np.maximum(d, left)
    return _clean(float(d.max()), 0.0)


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Two-sided p-value of the two-sample KS statistic ``d`` (asymptotic, Stephens' correction)."""
    from scipy.special import kolmogorov

    if n <= 0 or m <= 0 or d <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    return _clip01(float(kolmogorov((en + 0.12 + 0.11 / en) * d)))


def psi_from_shares(ref: FloatArray, cur: FloatArray) -> float:
    """sum((r - c) * ln(r / c)) with zero shares floored as evidently does."""
    r, c = _floor_zeros(np.asarray(ref, dtype=np.float64)), _floor_zeros(np.asarray(cur, dtype=np.float64))
    if r.size == 0 or c.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        value = float(np.sum((r - c) * np.log(r / c)))
    return _clean(value, 0.0)


def psi_groups(ref_counts: Sequence[int] | IntArray, bins: int) -> IntArray:
    """Group index of each fine bin: ``bins`` reference-quantile groups, the outer ones open-ended."""
    r = np.asarray(ref_counts, dtype=np.float64)
    total = r.sum()
    groups = np.zeros(r.size, dtype=np.int64)
    if total == 0 or r.size < 2:
        return groups
    cum = np.cumsum(r) / total
    targets = np.arange(1, bins) / bins
    # the group boundary for target t is the first fine bin whose cumulative share reaches t
    ends = np.unique(np.minimum(np.searchsorted(cum, targets - 1e-12, side="left"), r.size - 1))
    groups[:] = np.searchsorted(ends, np.arange(r.size), side="left")
    return groups


def psi_numeric(ref: NumericColumnProfile, cur: NumericColumnProfile, bins: int) -> float:
    r = np.asarray(ref["bin_counts"], dtype=np.float64)
    c = np.asarray(cur["bin_counts"], dtype=np.float64)
    if r.sum() == 0 or c.sum() == 0:
        return 0.0
    g = psi_groups(r.astype(np.int64), bins)
    k = int(g.max()) + 1
    rs = np.bincount(g, weights=r, minlength=k) / r.sum()
    cs = np.bincount(g, weights=c, minlength=k) / c.sum()
    return psi_from_shares(rs, cs)


def wasserstein_numeric(ref: NumericColumnProfile, cur: NumericColumnProfile) -> float:
    """Normalized Wasserstein-1 distance of the binned distributions (see the module docstring)."""
    edges = np.asarray(ref["bin_edges"], dtype=np.float64)
    r = np.asarray(ref["bin_counts"], dtype=np.float64)
    c = np.asarray(cur["bin_counts"], dtype=np.float64)
    m, n = r.sum(), c.sum()
    if m == 0 or n == 0 or edges.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        # tails outside the reference's range: exact from the sums of excess distances
        dist = (cur["below_sum"] + cur["above_sum"]) / n + (ref["below_sum"] + ref["above_sum"]) / m
        if edges.size >= 2:
            d = np.cumsum(r[:-1]) / m - np.cumsum(c[:-1]) / n  # F_ref - F_cur at each edge
            a, b, w = d[:-1], d[1:], np.diff(edges)
            same = a * b >= 0
            crossing = np.where(same, 0.0, (a * a + b * b) / np.where(same, 1.0, np.abs(a) + np.abs(b)))
            dist += float(np.sum(w * np.where(same, (np.abs(a) + np.abs(b)) / 2, crossing / 2)))
        std = ref["std"] if ref["std"] is not None else 0.0
        return _clean(dist / max(std, MIN_STD), 0.0)


def chi2_homogeneity(ref: Sequence[int] | IntArray, cur: Sequence[int] | IntArray) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) of the 2 x k test of homogeneity (see the module docstring)."""
    from scipy.stats import chi2

    r, c = np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)
    m, n = r.sum(), c.sum()
    if m == 0 or n == 0:
        return 0.0, 0, 1.0
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    pooled = (r + c) / (m + n)
    small = pooled * min(m, n) < MIN_EXPECTED
    if small.any() and (~small).any():
        r = np.append(r[~small], r[small].sum())
        c = np.append(c[~small], c[small].sum())
        pooled = (r + c) / (m + n)
    if r.size < 2:
        return 0.0, 0, 1.0
    with np.errstate(all="ignore"):
        stat = float(np.sum((r - m * pooled) ** 2 / (m * pooled) + (c - n * pooled) ** 2 / (n * pooled)))
    stat = _clean(stat, 0.0)
    dof = int(r.size - 1)
    return stat, dof, _clip01(float(chi2.sf(stat, dof)))


def adjust_pvalues(p: Sequence[float], method: Correction) -> list[float]:
    """Adjusted p-values: Benjamini-Hochberg (FDR), Holm or Bonferroni (FWER), or none."""
    arr = np.asarray(p, dtype=np.float64)
    k = arr.size
    if k == 0 or method == "none":
        return [float(x) for x in arr]
    if method == "bonferroni":
        return [float(x) for x in np.minimum(arr * k, 1.0)]
    order = np.argsort(arr, kind="stable")
    ranked = arr[order]
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum((k - np.arange(k)) * ranked, 1.0))
    else:  # bh
        adj = np.minimum.accumulate((ranked * k / np.arange(1, k + 1))[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    out = np.empty(k, dtype=np.float64)
    out[order] = adj
    return [float(x) for x in out]


# ---------------------------------------------------------------------------------------------- evaluation


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
        d = ks_from_counts(rn["bin_counts"], cn["bin_counts"], rn["edge_counts"], cn["edge_counts"])
        stats |= {
            "test": "ks",
            "statistic": d,
            "p_value": ks_pvalue(d, n_cur, n_ref),
            "psi": psi_numeric(rn, cn, settings.psi_bins),
            "wasserstein": wasserstein_numeric(rn, cn),
        }
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
    return stats, testable


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
    features = [r for r in results if r.role == "feature" and r.verdict != "insufficient_data"]
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


# ---------------------------------------------------------------------------------------------- helpers


def _floor_zeros(shares: FloatArray) -> FloatArray:
    if shares.size == 0 or not (shares > 0).any():
        return shares
    smallest = float(shares[shares > 0].min())
    floor = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return np.where(shares == 0, floor, shares)


def _clean(x: float, default: float) -> float:
    return x if math.isfinite(x) else default


def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0) if math.isfinite(x) else 1.0
