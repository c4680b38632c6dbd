"""The drift statistics, each exact on the profiles' bins (see ``monitoring.drift``): KS, PSI, chi-square,
Wasserstein, multiple-testing adjustment."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from monitoring.config import Correction
from monitoring.profile import (
    TAIL_EXPONENT,
    NumericColumnProfile,
    tail_sums,
)

IntArray = npt.NDArray[np.int64]


FloatArray = npt.NDArray[np.float64]


MIN_STD = 1e-3  # the Wasserstein normalizer's floor (evidently's)


MIN_EXPECTED = 5.0  # Cochran's rule for the chi-square approximation


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
    """Group index of each fine bin: ``bins`` reference-quantile groups, the outer ones open-ended; when the
    reference fills at most ``bins`` fine bins (a discrete column), one group per fine bin."""
    r = np.asarray(ref_counts, dtype=np.float64)
    total = r.sum()
    groups = np.zeros(r.size, dtype=np.int64)
    if total == 0 or r.size < 2:
        return groups
    if np.count_nonzero(r) <= bins:
        return np.arange(r.size, dtype=np.int64)
    cum = np.cumsum(r) / total
    targets = np.arange(1, bins) / bins
    # the group boundary for target t is the first fine bin whose cumulative share reaches t
    ends = np.unique(np.minimum(np.searchsorted(cum, targets - 1e-12, side="left"), r.size - 1))
    groups[:] = np.searchsorted(ends, np.arange(r.size), side="left")
    return groups


def psi_numeric(ref: NumericColumnProfile, cur: NumericColumnProfile, bins: int) -> float:
    r = np.asarray(ref["bin_counts"], dtype=np.float64)
    c = nearest_value_counts(ref, cur)
    if r.sum() == 0 or c.sum() == 0:
        return 0.0
    g = psi_groups(r.astype(np.int64), bins)
    k = int(g.max()) + 1
    rs = np.bincount(g, weights=r, minlength=k) / r.sum()
    cs = np.bincount(g, weights=c, minlength=k) / c.sum()
    return psi_from_shares(rs, cs)


def nearest_value_counts(ref: NumericColumnProfile, cur: NumericColumnProfile) -> FloatArray:
    """The batch's bin counts with every value in a gap of the reference counted at the nearer edge.

    Where the reference has no value strictly between two edges (a lattice: every reference value is an edge), a
    batch value between them belongs to the nearer reference value: the lower half of such a bin moves to the
    bin of its left edge, and values above the range by at most half the last spacing to the last edge. So a
    shift smaller than half the spacing of a discrete column moves no count (PSI and the discrete chi-square
    test are stable under it). Bins where the reference has values inside are kept as they are.
    """
    c = np.asarray(cur["bin_counts"], dtype=np.float64).copy()
    if len(ref["bin_edges"]) < 2 or "upper_counts" not in cur:
        return c
    upper = np.asarray(cur["upper_counts"], dtype=np.float64)
    interior = c - np.append(np.asarray(cur["edge_counts"], dtype=np.float64), 0.0)
    lower = np.where(_flat_bins(ref), interior - upper, 0.0)
    lower[0] = 0.0
    lower[-1] = c[-1] - upper[-1]  # above the range, nearer to the last edge than half its spacing
    c -= lower
    c[:-1] += lower[1:]
    return c


def is_lattice(ref: NumericColumnProfile, max_values: int) -> bool:
    """Every reference value is a bin edge, there are at most ``max_values`` of them and at least 5 values per
    edge on average: a discrete column (tested with chi-square over its values, not KS)."""
    edges = ref["bin_edges"]
    if not 2 <= len(edges) <= max_values or ref["count"] < 5 * len(edges):
        return False
    r = np.asarray(ref["bin_counts"][:-1], dtype=np.int64)
    return bool(np.array_equal(r, np.asarray(ref["edge_counts"], dtype=np.int64)))


def _flat_bins(ref: NumericColumnProfile) -> npt.NDArray[np.bool_]:
    """Per bin: the reference has no value strictly inside it (its CDF is flat there). Outer bins: False."""
    r = np.asarray(ref["bin_counts"], dtype=np.int64)
    at = np.append(np.asarray(ref["edge_counts"], dtype=np.int64), 0)
    flat: npt.NDArray[np.bool_] = (r - at) == 0
    flat[0] = flat[-1] = False
    return flat


def wasserstein_numeric(ref: NumericColumnProfile, cur: NumericColumnProfile) -> float:
    """Normalized Wasserstein-1 distance ``integral |F_ref - F_cur| dx / std_ref`` (see the module docstring).

    Per inner bin ``(e[i-1], e[i]]``: where the reference has no value strictly inside, its CDF is flat (a step
    at each edge: exact for discrete columns) and the batch's values inside sit at their centre of mass (exact
    when they are one value, or all on one side of the reference's level); where it has, both CDFs are linear
    inside the bin. Outside the reference's range the tail sums are exact. Computed on edges scaled by a power
    of two, so values near the float limits do not overflow.
    """
    edges = np.asarray(ref["bin_edges"], dtype=np.float64)
    r = np.asarray(ref["bin_counts"], dtype=np.float64)
    c = np.asarray(cur["bin_counts"], dtype=np.float64)
    m, n = r.sum(), c.sum()
    if m == 0 or n == 0 or edges.size == 0:
        return 0.0
    big = max(abs(float(edges[0])), abs(float(edges[-1])), float(ref["std"] or 0.0))
    scale = math.ldexp(1.0, -math.frexp(big)[1]) if big > 0 else 1.0
    with np.errstate(all="ignore"):
        # outside the reference's range: exact from the sums of excess distances (kept at 2**-TAIL_EXPONENT)
        tails = sum(tail_sums(cur)) / n + sum(tail_sums(ref)) / m
        dist = 0.0
        if edges.size >= 2:
            w = np.diff(edges * scale)
            fr, fc = np.cumsum(r)[:-2] / m, np.cumsum(c)[:-2] / n  # F at e[0..L-2], atoms included
            kr_count = r[1:-1] - np.asarray(ref["edge_counts"][1:], dtype=np.float64)
            kc_count = c[1:-1] - np.asarray(cur["edge_counts"][1:], dtype=np.float64)
            kr, kc = kr_count / m, kc_count / n  # mass strictly inside each inner bin
            pr, pc = _mean_position(ref, kr_count), _mean_position(cur, kc_count)
            d0, d1 = fr - fc, fr + kr - fc - kc  # F_ref - F_cur just after e[i-1] and just before e[i]
            # no crossing: the integral of |d| is |integral of d|, exact from the centres of mass
            exact = np.abs(d0 + kr * (1 - pr) - kc * (1 - pc))
            # a crossing: a flat reference against the batch's values at their centre of mass, or two linear CDFs
            step = pc * np.abs(d0) + (1 - pc) * np.abs(d1)
            denom = np.where(d0 * d1 < 0, np.abs(d0) + np.abs(d1), 1.0)
            linear = (d0 * d0 + d1 * d1) / denom / 2
            per_bin = np.where(d0 * d1 >= 0, exact, np.where(kr > 0, linear, step))
            dist += float(np.sum(w * per_bin))
        std = max(ref["std"] if ref["std"] is not None else 0.0, MIN_STD)
        value = dist / (std * scale) + tails / (std * math.ldexp(1.0, -TAIL_EXPONENT))
    # a distance beyond the float range is the largest float: huge, never 0
    return value if math.isfinite(value) else (sys.float_info.max if value > 0 else 0.0)


def _mean_position(col: NumericColumnProfile, inside: FloatArray) -> FloatArray:
    """Mean relative position of the values strictly inside each inner bin (0.5 when not recorded)."""
    if "interior_positions" not in col:
        return np.full(inside.size, 0.5)
    pos = np.asarray(col["interior_positions"], dtype=np.float64)[1:-1]
    return np.where(inside > 0, pos / np.where(inside > 0, inside, 1.0), 0.5)


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
