"""Shadow agreement: how close a shadow ranker's batch scores are to the live ranker's, per unit and overall.

A ranking is a frame with one row per (unit, item) and a ``rank`` column (lower is better; ties broken by the
frame's order). Per unit, ``overlap@k = |top_k(a) & top_k(b)| / max(|top_k(a)|, |top_k(b)|)`` (1 for the same top
k, also when a unit has fewer than k items); the rank correlation (Spearman's rho, or Kendall's tau-b) is taken
over the items both rankings hold (within their top k when given), with ties as average ranks. Both are averaged
over the units the two rankings share; units with one ranking only are counted, as are units where a correlation
is undefined (fewer than two common items, or all tied). ``score_drift`` compares the two score distributions
as a whole: PSI over the first one's deciles and the two-sample Kolmogorov-Smirnov test (its exact p-value up to a
million pairs of scores, the asymptotic one beyond).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from stepml.experiments.moments import fail

PAIR_BUDGET = 2_000_000  # item pairs held at once by the Kendall calculation


@dataclass(frozen=True)
class Agreement:
    """A per-unit agreement averaged over the units both rankings hold (``value`` is NaN when none is defined)."""

    value: float
    units: int  # units in both rankings with a defined value
    only_a: int
    only_b: int
    undefined: int  # common units without a defined value (a correlation over < 2 items, or all tied)


def _top(frame: pd.DataFrame, k: int | None, unit: str, item: str, rank: str, side: str) -> pd.DataFrame:
    missing = [c for c in (unit, item, rank) if c not in frame.columns]
    if missing:
        raise fail(side, f"column(s) {missing} are not in the frame (columns: {', '.join(map(str, frame.columns))})")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise fail("k", f"expected an integer >= 1, got {k!r}")
    data = pd.DataFrame({"unit": frame[unit].to_numpy(), "item": frame[item].to_numpy()})
    data["rank"] = pd.to_numeric(frame[rank], errors="coerce").to_numpy(np.float64)
    if data["unit"].isna().any() or data["item"].isna().any() or not np.isfinite(data["rank"].to_numpy()).all():
        raise fail(side, "rows with a missing unit or item, or a missing or non-numeric rank")
    dup = data.duplicated(["unit", "item"])
    if dup.any():
        first = data[dup].iloc[0]
        raise fail(side, f"item {first['item']!r} is ranked twice for unit {first['unit']!r}")
    data = data.sort_values(["unit", "rank"], kind="stable")
    if k is not None:
        data = data[data.groupby("unit", sort=False).cumcount() < k]
    return data


@dataclass(frozen=True)
class _Pair:
    a: pd.DataFrame
    b: pd.DataFrame
    common: pd.Index
    only_a: int
    only_b: int


def _pair(a: pd.DataFrame, b: pd.DataFrame, k: int | None, unit: str, item: str, rank: str) -> _Pair:
    ta, tb = _top(a, k, unit, item, rank, "a"), _top(b, k, unit, item, rank, "b")
    ua, ub = pd.Index(ta["unit"].unique()), pd.Index(tb["unit"].unique())
    common = ua.intersection(ub)
    return _Pair(ta, tb, common, len(ua) - len(common), len(ub) - len(common))


def _overlap(p: _Pair) -> pd.Series:
    shared = p.a.merge(p.b, on=["unit", "item"]).groupby("unit").size()
    size = np.maximum(p.a.groupby("unit").size().reindex(p.common), p.b.groupby("unit").size().reindex(p.common))
    overlap: pd.Series = (shared.reindex(p.common, fill_value=0) / size).rename("overlap")
    return overlap


def overlap_per_unit(
    a: pd.DataFrame, b: pd.DataFrame, k: int, *, unit: str = "unit", item: str = "item", rank: str = "rank"
) -> pd.Series:
    """overlap@k per unit held by both rankings (indexed by unit)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise fail("k", f"expected an integer >= 1, got {k!r}")
    return _overlap(_pair(a, b, k, unit, item, rank))


def overlap_at_k(
    a: pd.DataFrame, b: pd.DataFrame, k: int, *, unit: str = "unit", item: str = "item", rank: str = "rank"
) -> Agreement:
    """Mean overlap@k of two rankings over the units both hold."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise fail("k", f"expected an integer >= 1, got {k!r}")
    p = _pair(a, b, k, unit, item, rank)
    per_unit = _overlap(p)
    value = float(per_unit.mean()) if len(per_unit) else float("nan")
    return Agreement(value, len(per_unit), p.only_a, p.only_b, 0)


def _common_ranks(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Rows (unit, ra, rb) of the items both rankings hold, re-ranked within the unit (ties: average ranks)."""
    both = a.merge(b, on=["unit", "item"], suffixes=("_a", "_b")).sort_values("unit", kind="stable")
    groups = both.groupby("unit", sort=False)
    return pd.DataFrame(
        {
            "unit": both["unit"].to_numpy(),
            "ra": groups["rank_a"].rank(method="average").to_numpy(np.float64),
            "rb": groups["rank_b"].rank(method="average").to_numpy(np.float64),
        }
    )


def _spearman(common: pd.DataFrame) -> pd.Series:
    c = common.assign(ab=common["ra"] * common["rb"], aa=common["ra"] ** 2, bb=common["rb"] ** 2)
    s = c.groupby("unit", sort=False)[["ra", "rb", "ab", "aa", "bb"]].sum()
    n = c.groupby("unit", sort=False).size()
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = s["ab"] - s["ra"] * s["rb"] / n
        var_a, var_b = s["aa"] - s["ra"] ** 2 / n, s["bb"] - s["rb"] ** 2 / n
        rho = cov / np.sqrt(var_a * var_b)
    # a variance of average ranks is exactly 0 only when all are tied; guard against rounding
    defined = (n >= 2) & (var_a > 1e-9 * n**3) & (var_b > 1e-9 * n**3)
    out: pd.Series = rho.where(defined).clip(-1.0, 1.0)
    return out


def _kendall(common: pd.DataFrame) -> pd.Series:
    codes, uniques = pd.factorize(common["unit"], sort=False)
    ra, rb = common["ra"].to_numpy(), common["rb"].to_numpy()
    sizes = np.bincount(codes, minlength=len(uniques))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    pairs_per_unit = sizes * (sizes - 1) // 2
    score = np.zeros(len(uniques))
    tied_a, tied_b = np.zeros(len(uniques)), np.zeros(len(uniques))
    cum = np.concatenate([[0], np.cumsum(pairs_per_unit)])
    lo = 0
    while lo < len(uniques):  # chunks of units holding at most PAIR_BUDGET pairs (at least one unit)
        hi = max(lo + 1, int(np.searchsorted(cum, cum[lo] + PAIR_BUDGET, side="right")) - 1)
        rows = np.arange(starts[lo], starts[hi])
        unit_of = codes[rows]
        after = starts[unit_of + 1] - rows - 1  # later items of the same unit
        first = np.repeat(rows, after)
        offset = np.arange(first.size) - np.repeat(np.cumsum(after) - after, after)
        second = first + 1 + offset
        da, db = np.sign(ra[first] - ra[second]), np.sign(rb[first] - rb[second])
        u = codes[first]
        score += np.bincount(u, weights=da * db, minlength=len(uniques))
        tied_a += np.bincount(u, weights=(da == 0).astype(np.float64), minlength=len(uniques))
        tied_b += np.bincount(u, weights=(db == 0).astype(np.float64), minlength=len(uniques))
        lo = hi
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.sqrt((pairs_per_unit - tied_a) * (pairs_per_unit - tied_b))
        tau = np.where(denom > 0, score / denom, np.nan)
    return pd.Series(np.clip(tau, -1.0, 1.0), index=uniques)


def rank_correlation_per_unit(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    method: Literal["spearman", "kendall"] = "spearman",
    k: int | None = None,
    unit: str = "unit",
    item: str = "item",
    rank: str = "rank",
) -> pd.Series:
    """The rank correlation per unit held by both rankings (NaN where undefined), over their common items."""
    return _correlation(_pair(a, b, k, unit, item, rank), method)


def _correlation(p: _Pair, method: str) -> pd.Series:
    if method not in ("spearman", "kendall"):
        raise fail("method", f"expected 'spearman' or 'kendall', got {method!r}")
    ranks = _common_ranks(p.a, p.b)
    per_unit = _spearman(ranks) if method == "spearman" else _kendall(ranks)
    return per_unit.reindex(p.common).rename(method)


def rank_correlation(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    method: Literal["spearman", "kendall"] = "spearman",
    k: int | None = None,
    unit: str = "unit",
    item: str = "item",
    rank: str = "rank",
) -> Agreement:
    """The mean per-unit rank correlation of two rankings over the units both hold."""
    p = _pair(a, b, k, unit, item, rank)
    per_unit = _correlation(p, method)
    defined = per_unit.dropna()
    value = float(defined.mean()) if len(defined) else float("nan")
    return Agreement(value, len(defined), p.only_a, p.only_b, len(per_unit) - len(defined))


@dataclass(frozen=True)
class ScoreDrift:
    """How the second score distribution differs from the first (the reference)."""

    psi: float
    ks: float
    ks_p_value: float
    n_a: int
    n_b: int


EXACT_KS_PAIRS = 1_000_000
PSI_FLOOR = 1e-4  # a bin's share when it is empty on one side (as evidently floors it)


def score_drift(a: npt.ArrayLike, b: npt.ArrayLike, *, bins: int = 10) -> ScoreDrift:
    """PSI over ``bins`` quantile bins of ``a`` and the two-sample KS test, between scores ``a`` and ``b``."""
    from scipy.stats import ks_2samp

    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise fail("bins", f"expected an integer >= 2, got {bins!r}")
    xa, xb = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    for name, x in (("a", xa), ("b", xb)):
        if x.size == 0:
            raise fail(name, "no scores")
        if not np.isfinite(x).all():
            raise fail(name, f"{int((~np.isfinite(x)).sum())} missing or infinite score(s)")
    edges = np.unique(np.quantile(xa, np.linspace(0, 1, bins + 1)[1:-1]))
    share_a = np.bincount(np.searchsorted(edges, xa, side="right"), minlength=edges.size + 1) / xa.size
    share_b = np.bincount(np.searchsorted(edges, xb, side="right"), minlength=edges.size + 1) / xb.size
    sa, sb = np.maximum(share_a, PSI_FLOOR), np.maximum(share_b, PSI_FLOOR)
    psi = float(np.sum((sb - sa) * np.log(sb / sa)))
    # the exact distribution costs O(n_a n_b); beyond a million pairs the asymptotic one is as good
    ks = ks_2samp(xa, xb, method="exact" if xa.size * xb.size <= EXACT_KS_PAIRS else "asymp")
    return ScoreDrift(psi, float(ks.statistic), float(ks.pvalue), int(xa.size), int(xb.size))
