"""Team-draft and balanced interleaving (issue 13): the algorithms' balance properties, the frame API giving the
per-unit lists exactly, deterministic per-unit coins, and click credit."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from stepml.errors import ExperimentError
from stepml.experiments.interleave import (
    Team,
    balanced,
    credit,
    credit_balanced,
    credit_balanced_frame,
    credit_frame,
    interleave_frame,
    team_draft,
    unit_coins,
)
from stepml.experiments.stats import count_winners


def random_lists(rng: np.random.Generator, short: bool = False) -> tuple[list[int], list[int]]:
    """Two rankings over a shared pool (overlapping items); ``short``: lengths from 0 to 12."""
    pool = rng.permutation(20)
    na, nb = rng.integers(0, 13, 2) if short else (12, 12)
    return [int(i) for i in rng.permutation(pool)[:na]], [int(i) for i in rng.permutation(pool)[:nb]]


def is_subsequence(picks: Sequence[Hashable], ranking: Sequence[Hashable]) -> bool:
    positions = [ranking.index(p) for p in picks]
    return positions == sorted(positions)


def test_team_draft_balance_properties_over_many_units() -> None:
    rng = np.random.default_rng(0)
    a_first = 0
    units = 2000
    for unit in range(units):
        list_a, list_b = random_lists(rng)
        merged = team_draft(list_a, list_b, 10, unit_coins("exp", unit))
        items = [item for item, _ in merged]
        assert len(items) == 10 == len(set(items))  # k items, no duplicates
        for m in range(1, len(merged) + 1):  # every prefix: team sizes differ by at most one
            n_a = sum(team == "A" for _, team in merged[:m])
            assert abs(n_a - (m - n_a)) <= 1
        for team, ranking in (("A", list_a), ("B", list_b)):
            picks = [item for item, t in merged if t == team]
            assert set(picks) <= set(ranking) and is_subsequence(picks, ranking)
        # each pick is the team's best item not yet shown
        for m, (item, team) in enumerate(merged):
            ranking = list_a if team == "A" else list_b
            assert item == next(x for x in ranking if x not in items[:m])
        a_first += merged[0][1] == "A"
    # A picks first in half of the units (a two-sided 1e-4 band around 1000)
    assert sps.binom.interval(1 - 1e-4, units, 0.5)[0] <= a_first <= sps.binom.interval(1 - 1e-4, units, 0.5)[1]


def test_team_draft_of_identical_lists_is_that_list_and_short_lists_run_out() -> None:
    ranking = list("abcdef")
    assert [item for item, _ in team_draft(ranking, ranking, 4, unit_coins("s", 1))] == list("abcd")
    merged = team_draft(["a"], ["b", "c", "d"], 10, iter([True]))
    assert merged == [("a", "A"), ("b", "B"), ("c", "B"), ("d", "B")]
    assert team_draft([], [], 3, iter([])) == []


def test_unit_coins_are_sha256_bits_of_salt_and_unit() -> None:
    digest = hashlib.sha256(b"exp\x1f42\x1f0").digest()
    expected = [bool(b) for b in np.unpackbits(np.frombuffer(digest, dtype=np.uint8))]
    coins = unit_coins("exp", 42)
    assert [next(coins) for _ in range(256)] == expected
    assert next(coins) == bool(hashlib.sha256(b"exp\x1f42\x1f1").digest()[0] >> 7)
    first = [next(unit_coins("exp", u)) for u in range(4000)]
    assert 1850 <= sum(first) <= 2150


def test_balanced_interleaving_properties() -> None:
    rng = np.random.default_rng(1)
    for unit in range(500):
        list_a, list_b = random_lists(rng)
        merged = balanced(list_a, list_b, 10, next(unit_coins("exp", unit)))
        items = [item for item, _ in merged]
        assert len(items) == 10 == len(set(items))
        # every prefix is the union of the top ka of A and the top kb of B with |ka - kb| <= 1
        for m in range(1, 11):
            prefix = set(items[:m])
            assert any(
                prefix == set(list_a[:ka]) | set(list_b[:kb])
                for ka in range(m + 1)
                for kb in (ka - 1, ka, ka + 1)
                if kb >= 0
            ), (unit, m)
    assert [i for i, _ in balanced(list("abc"), list("abc"), 3, False)] == list("abc")
    assert balanced(list("ab"), list("cd"), 4, True) == [("a", "A"), ("c", "B"), ("b", "A"), ("d", "B")]
    assert balanced(list("ab"), list("cd"), 4, False) == [("c", "B"), ("a", "A"), ("d", "B"), ("b", "A")]


def test_credit_counts_clicked_items_per_team() -> None:
    merged: list[tuple[Hashable, Team]] = [("a", "A"), ("b", "B"), ("c", "A"), ("d", "B")]
    assert credit(merged, ["a", "c", "b"]) == "A"
    assert credit(merged, ["b", "b", "b", "a"]) == "tie"  # a repeated click counts once
    assert credit(merged, ["zz", "d"]) == "B"  # a click on an item not shown counts nothing
    assert credit(merged, []) == "tie"


def test_credit_balanced_uses_the_depth_of_the_lowest_click() -> None:
    list_a, list_b = list("abcd"), list("bead")
    merged = [item for item, _ in balanced(list_a, list_b, 4, True)]
    assert merged == list("abec")
    # lowest click 'e' is at depth 2 of B: top2(A) = {a, b}, top2(B) = {b, e}; clicks {b, e} -> B 2, A 1
    assert credit_balanced(list_a, list_b, merged, ["b", "e"]) == "B"
    assert credit_balanced(list_a, list_b, merged, ["a"]) == "A"
    assert credit_balanced(list_a, list_b, merged, ["b"]) == "B"  # depth 1: only B holds b there
    assert credit_balanced(list_a, list_a, list_a, ["c", "a"]) == "tie"


def to_frame(lists: Mapping[Any, tuple[list[int], list[int]]]) -> pd.DataFrame:
    rows = [
        (unit, item, 10 * r + 3, variant)  # ranks need not be 1..n
        for unit, pair in lists.items()
        for variant, ranking in zip("AB", pair, strict=True)
        for r, item in enumerate(ranking)
    ]
    return pd.DataFrame(rows, columns=["unit", "item", "rank", "variant"]).sample(frac=1.0, random_state=3)


@pytest.mark.parametrize("method", ["team_draft", "balanced"])
def test_the_frame_api_gives_the_per_unit_lists(method: str) -> None:
    rng = np.random.default_rng(2)
    lists = {f"user-{u}": random_lists(rng, short=True) for u in range(400)}
    out = interleave_frame(to_frame(lists), 7, salt="exp-13", method=method)  # type: ignore[arg-type]
    assert list(out.columns) == ["unit", "position", "item", "team"]
    got = {unit: list(zip(part["item"], part["team"], strict=True)) for unit, part in out.groupby("unit")}
    for unit, (list_a, list_b) in lists.items():
        coins = unit_coins("exp-13", unit)
        expected = (
            team_draft(list_a, list_b, 7, coins) if method == "team_draft" else balanced(list_a, list_b, 7, next(coins))
        )
        assert got.get(unit, []) == expected, unit
        if unit in got:
            assert out.loc[out["unit"] == unit, "position"].tolist() == list(range(1, len(expected) + 1))


def test_the_frame_api_names_bad_rows() -> None:
    good = to_frame({1: ([1, 2], [2, 3])})
    for frame, field, match in (
        (good.assign(variant="C"), "variant", "'C'"),
        (pd.concat([good, good]), "frame", "twice"),
        (good.assign(rank=1), "frame", "one rank"),
        (good.drop(columns="rank"), "frame", "'rank'"),
    ):
        with pytest.raises(ExperimentError, match=match) as info:
            interleave_frame(frame, 3, salt="s")
        assert info.value.field == field
    with pytest.raises(ExperimentError) as info:
        interleave_frame(good, 0, salt="s")
    assert info.value.field == "k"


def test_credit_frame_and_the_sign_test_find_the_better_ranker() -> None:
    # Given users who click only the items ranker A puts in its top 2, and once an item nobody showed
    rng = np.random.default_rng(5)
    lists: dict[Any, tuple[list[int], list[int]]] = {u: random_lists(rng) for u in range(300)}
    merged = interleave_frame(to_frame(lists), 6, salt="s")
    clicks = pd.DataFrame(
        [(u, item) for u, (list_a, _) in lists.items() for item in list_a[:2]] + [(0, 999)], columns=["unit", "item"]
    )
    credited = credit_frame(merged, clicks)
    assert len(credited) == 300
    for row in credited.head(50).itertuples():
        shown = merged[merged["unit"] == row.unit]
        assert row.winner == credit(list(zip(shown["item"], shown["team"], strict=True)), lists[row.unit][0][:2])
    test = count_winners(credited["winner"])
    assert test.wins_a > 5 * test.wins_b and test.p_value < 1e-6


def test_no_rankings_interleave_to_no_rows() -> None:
    empty = to_frame({}).astype({"unit": "int64", "item": "int64", "rank": "float64"})
    merged = interleave_frame(empty, 5, salt="s")
    assert merged.empty and list(merged.columns) == ["unit", "position", "item", "team"]
    assert credit_frame(merged, pd.DataFrame({"unit": [1], "item": [2]})).empty


def test_credit_balanced_frame_gives_the_per_unit_credit() -> None:
    rng = np.random.default_rng(8)
    lists: dict[Any, tuple[list[int], list[int]]] = {f"u{u}": random_lists(rng, short=True) for u in range(300)}
    rankings = to_frame(lists)
    merged = interleave_frame(rankings, 6, salt="s", method="balanced")
    clicks = merged.sample(frac=0.3, random_state=1)[["unit", "item"]]
    credited = credit_balanced_frame(rankings, merged, pd.concat([clicks, clicks.head(5)]))
    winners = dict(zip(credited["unit"], credited["winner"], strict=True))
    assert set(winners) == set(merged["unit"])
    for unit, part in merged.groupby("unit"):
        list_a, list_b = lists[unit]
        clicked = clicks.loc[clicks["unit"] == unit, "item"].tolist()
        assert winners[unit] == credit_balanced(list_a, list_b, part["item"].tolist(), clicked), unit
    assert sum(w != "tie" for w in winners.values()) > 50
