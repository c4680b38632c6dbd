"""Interleaving two rankers' lists into one shown list, and crediting clicks to the ranker that won.

Team draft (Radlinski, Kurup, Joachims 2008, "How does clickthrough data reflect retrieval quality?"): the team
with fewer picks picks next, a coin decides when the teams are even; a team picks its ranker's highest-ranked
item not yet shown. A unit's winner is the team whose items got more of its clicks. When one ranker has no item
left, the other keeps picking (the team sizes may then differ by more than one).

Balanced interleaving (Joachims 2003; Chapelle, Joachims, Radlinski, Yue 2012, "Large-scale validation and
analysis of interleaved search evaluation", section 2): the list walks both rankings in step (``ka``, ``kb``
items taken from A and B, the one behind goes next, a coin decides ties), skipping items already shown, so every
prefix is ``top_ka(A) | top_kb(B)`` with ``|ka - kb| <= 1``; when one ranking runs out, the other continues. Its
credit: with ``i`` the lowest clicked item and ``j`` the first depth at which A or B holds ``i``, each ranker
scores the clicked items in its top ``j``.

The coins of a unit come from ``sha256(salt \\x1f unit \\x1f block)`` (bits most significant first, 256 per
block; the unit as its ``str``), so a unit's list is the same on every machine and in every process. The frame
functions (``interleave_frame``, ``credit_frame``, ``credit_balanced_frame``) give exactly what the per-unit
functions give, for all units at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from stepml.experiments.moments import fail

Team = Literal["A", "B"]
Winner = Literal["A", "B", "tie"]
Method = Literal["team_draft", "balanced"]
BITS_PER_BLOCK = 256


def _digest(salt: str, unit: object, block: int) -> bytes:
    return hashlib.sha256(f"{salt}\x1f{unit}\x1f{block}".encode()).digest()


def unit_coins(salt: str, unit: object) -> Iterator[bool]:
    """The endless coin flips of ``unit`` under ``salt`` (True: A picks first)."""
    block = 0
    while True:
        for bit in np.unpackbits(np.frombuffer(_digest(salt, unit, block), dtype=np.uint8)):
            yield bool(bit)
        block += 1


def _check(list_a: Sequence[Hashable], list_b: Sequence[Hashable], k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise fail("k", f"expected an integer >= 1, got {k!r}")
    for name, items in (("list_a", list_a), ("list_b", list_b)):
        if len(set(items)) != len(items):
            raise fail(name, "a ranker's list holds an item twice")


def team_draft(
    list_a: Sequence[Hashable], list_b: Sequence[Hashable], k: int, coins: Iterable[bool]
) -> list[tuple[Hashable, Team]]:
    """The first ``k`` items of the team-draft interleaving of two ranked lists, each with the team that picked
    it; ``coins`` is consumed once per even round (``unit_coins(salt, unit)``)."""
    _check(list_a, list_b, k)
    flips = iter(coins)
    merged: list[tuple[Hashable, Team]] = []
    shown: set[Hashable] = set()
    pa = pb = size_a = size_b = 0
    while len(merged) < k:
        while pa < len(list_a) and list_a[pa] in shown:
            pa += 1
        while pb < len(list_b) and list_b[pb] in shown:
            pb += 1
        avail_a, avail_b = pa < len(list_a), pb < len(list_b)
        if not (avail_a or avail_b):
            break
        # the smaller team picks, a coin decides between even teams; a team without items left passes
        pick_a = (size_a < size_b or (size_a == size_b and next(flips))) if avail_a and avail_b else avail_a
        item = list_a[pa] if pick_a else list_b[pb]
        merged.append((item, "A" if pick_a else "B"))
        shown.add(item)
        size_a, size_b = size_a + pick_a, size_b + (not pick_a)
    return merged


def balanced(
    list_a: Sequence[Hashable], list_b: Sequence[Hashable], k: int, a_first: bool
) -> list[tuple[Hashable, Team]]:
    """The first ``k`` items of the balanced interleaving, each with the list it was taken from (not its credit:
    see :func:`credit_balanced`); ``a_first`` is the unit's one coin (``next(unit_coins(salt, unit))``)."""
    _check(list_a, list_b, k)
    merged: list[tuple[Hashable, Team]] = []
    shown: set[Hashable] = set()
    ka = kb = 0
    while len(merged) < k and (ka < len(list_a) or kb < len(list_b)):
        take_a = kb >= len(list_b) or (ka < len(list_a) and (ka < kb or (ka == kb and a_first)))
        item = list_a[ka] if take_a else list_b[kb]
        ka, kb = ka + take_a, kb + (not take_a)
        if item not in shown:
            merged.append((item, "A" if take_a else "B"))
            shown.add(item)
    return merged


def _winner(a: int, b: int) -> Winner:
    return "A" if a > b else "B" if b > a else "tie"


def credit(merged: Sequence[tuple[Hashable, Team]], clicks: Iterable[Hashable]) -> Winner:
    """Team draft: the team whose items got more of the unit's clicked items (clicks on items not shown, and
    repeated clicks on one item, count nothing more)."""
    team = dict(merged)
    clicked = {c for c in clicks if c in team}
    a = sum(team[c] == "A" for c in clicked)
    return _winner(a, len(clicked) - a)


def credit_balanced(
    list_a: Sequence[Hashable], list_b: Sequence[Hashable], merged: Sequence[Hashable], clicks: Iterable[Hashable]
) -> Winner:
    """Balanced interleaving: with the lowest clicked item at depth ``j`` of A or B (the smaller), the ranker
    whose top ``j`` holds more clicked items."""
    shown = {item: pos for pos, item in enumerate(merged)}
    clicked = {c for c in clicks if c in shown}
    if not clicked:
        return "tie"
    lowest = max(clicked, key=shown.__getitem__)
    depth = min(lst.index(lowest) + 1 for lst in (list(list_a), list(list_b)) if lowest in lst)
    top_a, top_b = set(list_a[:depth]), set(list_b[:depth])
    return _winner(len(clicked & top_a), len(clicked & top_b))


# --- many units at once ---------------------------------------------------------------------------------------


def _coin_bits(salt: str, units: Sequence[object], count: int) -> npt.NDArray[np.bool_]:
    """The first ``count`` coins of each unit, as ``unit_coins`` yields them (one row per unit)."""
    blocks = max(1, -(-count // BITS_PER_BLOCK))
    raw = b"".join(_digest(salt, u, b) for u in units for b in range(blocks))
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).reshape(len(units), blocks * BITS_PER_BLOCK)
    return bits[:, : max(count, 1)].astype(bool)


@dataclass(frozen=True)
class _Rows:
    """The rankings' rows sorted by unit, ranker (B: ``is_b``) and rank, as codes into ``units`` and ``items``."""

    u: npt.NDArray[np.int64]
    units: pd.Index
    item: npt.NDArray[np.int64]
    items: pd.Index
    is_b: npt.NDArray[np.bool_]


def _rows(frame: pd.DataFrame, k: int, unit: str, item: str, rank: str, variant: str) -> _Rows:
    missing = [c for c in (unit, item, rank, variant) if c not in frame.columns]
    if missing:
        raise fail("frame", f"column(s) {missing} are not in the frame (columns: {', '.join(map(str, frame.columns))})")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise fail("k", f"expected an integer >= 1, got {k!r}")
    u, units = pd.factorize(frame[unit], sort=False)
    i, items = pd.factorize(frame[item], sort=False)
    if (u < 0).any() or (i < 0).any():
        raise fail("frame", "rows with a missing unit or item")
    bad = sorted(set(map(str, pd.unique(frame[variant]))) - {"A", "B"})
    if bad:
        raise fail("variant", f"expected the rankers 'A' and 'B', got {bad}")
    ranks = pd.to_numeric(frame[rank], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(ranks).all():
        raise fail("rank", "missing or non-numeric ranks")
    is_b = (frame[variant] == "B").to_numpy(dtype=bool)
    order = np.lexsort((ranks, is_b, u))
    u, i, is_b, ranks = u[order].astype(np.int64), i[order].astype(np.int64), is_b[order], ranks[order]
    group = u * 2 + is_b
    same = group[1:] == group[:-1]
    for dup, what in (
        (_repeated(group * max(len(items), 1) + i), "an item twice"),
        (same & (ranks[1:] == ranks[:-1]), "two items at one rank"),
    ):
        if dup.any():
            at = int(np.argmax(dup)) + 1
            ranker = "B" if is_b[at] else "A"
            raise fail("frame", f"ranker {ranker} ranks {what} for unit {units[u[at]]!r}")
    return _Rows(u, pd.Index(units), i, pd.Index(items), is_b)


def _repeated(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Per position after the first: the key occurred before (in any order)."""
    order = np.argsort(keys, kind="stable")
    seen = np.zeros(keys.size, dtype=bool)
    seen[order[1:]] = keys[order[1:]] == keys[order[:-1]]
    return seen[1:]


def interleave_frame(
    frame: pd.DataFrame,
    k: int,
    *,
    salt: str,
    method: Method = "team_draft",
    unit: str = "unit",
    item: str = "item",
    rank: str = "rank",
    variant: str = "variant",
) -> pd.DataFrame:
    """Interleave every unit's two rankings (rows ``unit, item, rank, variant`` with variant ``'A'``/``'B'``,
    lower rank first) into rows ``unit, position (1..k), item, team``, in unit order of first appearance.

    The same lists as :func:`team_draft` / :func:`balanced` with ``unit_coins(salt, unit)``, in lockstep over
    the units (one numpy pass per position).
    """
    if method not in ("team_draft", "balanced"):
        raise fail("method", f"expected 'team_draft' or 'balanced', got {method!r}")
    rows_ = _rows(frame, k, unit, item, rank, variant)
    u_codes, units, i_codes, items, is_b = rows_.u, rows_.units, rows_.item, rows_.items, rows_.is_b
    n_units, n_items = len(units), max(len(items), 1)
    # keep each ranker's top k; a unit's items get local ids 0..m-1
    group = u_codes * 2 + is_b
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    pos = np.arange(group.size) - np.repeat(starts, np.diff(np.r_[starts, group.size]))
    keep = pos < k
    u_codes, i_codes, is_b, pos = u_codes[keep], i_codes[keep], is_b[keep], pos[keep]
    keys, local = np.unique(u_codes.astype(np.int64) * n_items + i_codes, return_inverse=True)
    first_key = np.searchsorted(keys // n_items, np.arange(n_units), side="left")
    local = local - first_key[u_codes]
    lists = np.full((2, n_units, k), -1, dtype=np.int64)
    lists[is_b.astype(np.int64), u_codes, pos] = local
    lengths = (lists >= 0).sum(axis=2)
    coins = _coin_bits(salt, [str(x) for x in units], 1 if method == "balanced" else -(-k // 2))
    shown_local, team = (_team_draft_steps if method == "team_draft" else _balanced_steps)(lists, lengths, coins, k)
    rows, position = np.nonzero(shown_local >= 0)
    item_codes = keys[first_key[rows] + shown_local[rows, position]] % n_items
    return pd.DataFrame(
        {
            unit: units[rows],
            "position": position + 1,
            item: items[item_codes],
            "team": np.where(team[rows, position] == 1, "B", "A"),
        }
    )


IntMatrix = npt.NDArray[np.int64]


def _team_draft_steps(
    lists: IntMatrix, lengths: IntMatrix, coins: npt.NDArray[np.bool_], k: int
) -> tuple[IntMatrix, IntMatrix]:
    n = lists.shape[1]
    rows = np.arange(n)
    used = np.zeros((n, 2 * k + 1), dtype=bool)
    ptr, size = np.zeros((2, n), dtype=np.int64), np.zeros((2, n), dtype=np.int64)
    flips = np.zeros(n, dtype=np.int64)
    shown, team = np.full((n, k), -1, dtype=np.int64), np.zeros((n, k), dtype=np.int64)
    for step in range(k):
        for t in (0, 1):  # skip the items the other team has shown
            while True:
                live = ptr[t] < lengths[t]
                cand = lists[t, rows, np.minimum(ptr[t], k - 1)]
                blocked = live & used[rows, np.where(live, cand, 2 * k)]
                if not blocked.any():
                    break
                ptr[t] += blocked
        avail = ptr < lengths
        active = avail[0] | avail[1]
        if not active.any():
            break
        both, even = avail[0] & avail[1], size[0] == size[1]
        coin = coins[rows, np.minimum(flips, coins.shape[1] - 1)]
        flips += both & even
        pick_a = avail[0] & (~avail[1] | (size[0] < size[1]) | (even & coin))
        t_pick = np.where(pick_a, 0, 1)
        chosen = lists[t_pick, rows, np.minimum(ptr[t_pick, rows], k - 1)]
        act = np.flatnonzero(active)
        used[act, chosen[act]] = True
        shown[act, step], team[act, step] = chosen[act], t_pick[act]
        ptr[t_pick[act], act] += 1
        size[t_pick[act], act] += 1
    return shown, team


def _balanced_steps(
    lists: IntMatrix, lengths: IntMatrix, coins: npt.NDArray[np.bool_], k: int
) -> tuple[IntMatrix, IntMatrix]:
    n = lists.shape[1]
    rows = np.arange(n)
    used = np.zeros((n, 2 * k + 1), dtype=bool)
    kk, count = np.zeros((2, n), dtype=np.int64), np.zeros(n, dtype=np.int64)
    shown, team = np.full((n, k), -1, dtype=np.int64), np.zeros((n, k), dtype=np.int64)
    a_first = coins[:, 0]
    while True:
        active = (count < k) & ((kk[0] < lengths[0]) | (kk[1] < lengths[1]))
        if not active.any():
            break
        has_a, has_b = kk[0] < lengths[0], kk[1] < lengths[1]
        take_a = ~has_b | (has_a & ((kk[0] < kk[1]) | ((kk[0] == kk[1]) & a_first)))
        t = np.where(take_a, 0, 1)
        cand = lists[t, rows, np.minimum(kk[t, rows], k - 1)]
        act = np.flatnonzero(active)
        kk[t[act], act] += 1
        new = act[~used[act, cand[act]]]
        used[new, cand[new]] = True
        shown[new, count[new]], team[new, count[new]] = cand[new], t[new]
        count[new] += 1
    return shown, team


def credit_frame(merged: pd.DataFrame, clicks: pd.DataFrame, *, unit: str = "unit", item: str = "item") -> pd.DataFrame:
    """Team draft credit of every unit in ``merged`` (``interleave_frame`` rows): rows ``unit, clicks_a,
    clicks_b, winner`` from click rows ``unit, item`` (clicks on items not shown, and repeats, count nothing)."""
    for name, df in (("merged", merged), ("clicks", clicks)):
        missing = [c for c in (unit, item) if c not in df.columns]
        if missing:
            raise fail(name, f"column(s) {missing} are not in the frame (columns: {', '.join(map(str, df.columns))})")
    if "team" not in merged.columns:
        raise fail("merged", "no 'team' column: pass the rows interleave_frame returned")
    hit = merged[[unit, item, "team"]].merge(clicks[[unit, item]].drop_duplicates(), on=[unit, item])
    counts = pd.crosstab(hit[unit], hit["team"]).reindex(columns=["A", "B"], fill_value=0)
    every = pd.Index(merged[unit].unique(), name=unit)
    counts = counts.reindex(every, fill_value=0)
    a, b = counts["A"].to_numpy(), counts["B"].to_numpy()
    return pd.DataFrame(
        {unit: every, "clicks_a": a, "clicks_b": b, "winner": np.where(a > b, "A", np.where(b > a, "B", "tie"))}
    )


def credit_balanced_frame(
    rankings: pd.DataFrame,
    merged: pd.DataFrame,
    clicks: pd.DataFrame,
    *,
    unit: str = "unit",
    item: str = "item",
    rank: str = "rank",
    variant: str = "variant",
) -> pd.DataFrame:
    """Balanced-interleaving credit of every unit in ``merged`` (``interleave_frame(..., method='balanced')``
    rows) given the rankings it was built from: rows ``unit, clicks_a, clicks_b, winner`` as
    :func:`credit_balanced` gives them (``clicks_a``: clicked items in A's top ``j``)."""
    for name, df, cols in (("rankings", rankings, (unit, item, rank, variant)), ("merged", merged, (unit, item, "position")),
                           ("clicks", clicks, (unit, item))):  # fmt: skip
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise fail(name, f"column(s) {missing} are not in the frame (columns: {', '.join(map(str, df.columns))})")
    ordered = rankings[[unit, item, rank, variant]].sort_values([unit, variant, rank], kind="stable")
    depth_in = ordered.assign(depth=ordered.groupby([unit, variant], sort=False).cumcount() + 1)
    depth = depth_in.pivot_table(index=[unit, item], columns=variant, values="depth", aggfunc="min")
    depth = depth.reindex(columns=["A", "B"])  # the depth of each item in A and in B (NaN: not ranked)
    hit = merged[[unit, item, "position"]].merge(clicks[[unit, item]].drop_duplicates(), on=[unit, item])
    hit = hit.join(depth, on=[unit, item])
    lowest = hit.loc[hit.groupby(unit, sort=False)["position"].idxmax()]
    cut = lowest.set_index(unit)[["A", "B"]].min(axis=1)  # j: the first depth at which A or B holds it
    hit["j"] = hit[unit].map(cut)
    hit["in_a"], hit["in_b"] = hit["A"] <= hit["j"], hit["B"] <= hit["j"]
    counts = hit.groupby(unit, sort=False)[["in_a", "in_b"]].sum()
    every = pd.Index(merged[unit].unique(), name=unit)
    counts = counts.reindex(every, fill_value=0)
    a, b = counts["in_a"].to_numpy(np.int64), counts["in_b"].to_numpy(np.int64)
    return pd.DataFrame(
        {unit: every, "clicks_a": a, "clicks_b": b, "winner": np.where(a > b, "A", np.where(b > a, "B", "tie"))}
    )
