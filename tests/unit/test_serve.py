"""Serving an online test (the serve entry's pure core): who sees which list, fallback, audience, shadow."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from stepml.errors import StepInputError
from stepml.experiments.assign import assign
from steps.serve.entry import serve


def config(kind: str = "ab", **over: Any) -> dict[str, Any]:
    weights = {"control": 0.5, "treatment": 0.5} if kind == "ab" else {"control": 1.0, "treatment": 0.0}
    cfg: dict[str, Any] = {
        "settings": {
            "experiment": "t",
            "kind": kind,
            "unit": "user",
            "salt": "s",
            "layer": "l",
            "offset": 0.0,
            "weights": weights,
        },
        "coverage": 1.0,
        "unit": "user",
        "item": "item",
        "score": "score",
        "top_k": 3,
        "audience": None,
        "fallback": None,
        "interleaving": "team_draft",
    }
    cfg.update(over)
    return cfg


def lists(users: int = 200, items: int = 6, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    grid = pd.DataFrame([(u, i) for u in range(users) for i in range(items)], columns=["user", "item"])
    return {"control": grid.assign(score=rng.random(len(grid))), "treatment": grid.assign(score=rng.random(len(grid)))}


def test_ab_units_see_their_variants_top_k() -> None:
    scored = lists()
    out = serve(config(), None, scored, step="serve", assigned_at="2026-05-01T00:00:00+00:00")
    serving = out["serving"]
    truth = {a.unit: a.variant for a in assign(range(200), config()["settings"], 1.0)}
    assert set(serving.groupby("user")["variant"].first().items()) == {(int(u), v) for u, v in truth.items()}
    assert (serving.groupby("user").size() == 3).all()  # top_k
    assert (serving["variant"] == serving["served_variant"]).all()
    for user, rows in serving.groupby("user"):  # each list is the variant's best 3, ranked
        variant = truth[str(user)]
        source = scored[variant][scored[variant]["user"] == user].nlargest(3, "score")
        assert rows.sort_values("rank")["item"].tolist() == source["item"].tolist()
    a = out["assignments"]
    assert list(a.columns) == ["experiment", "salt", "unit", "variant", "bucket", "in_experiment", "assigned_at"]
    assert len(a) == 200 and a["in_experiment"].all()
    assert set(out) == {"serving", "assignments", "variant_control", "variant_treatment"}
    assert set(out["variant_treatment"]["user"].astype(str)) == {u for u, v in truth.items() if v == "treatment"}


def test_a_short_list_falls_back_and_is_marked() -> None:
    scored = lists()
    short = scored["treatment"]
    scored["treatment"] = short[~((short["user"] < 50) & (short["item"] > 0))]  # users < 50: one item only
    cfg = config(fallback={"variant": "control", "min_items": 2})
    serving = serve(cfg, None, scored, step="serve", assigned_at="x")["serving"]
    treated = {a.unit for a in assign(range(200), cfg["settings"], 1.0) if a.variant == "treatment"}
    fell = serving[serving["fallback"]]
    assert set(fell["user"].astype(str)) == {u for u in treated if int(u) < 50}
    assert (fell["variant"] == "treatment").all() and (fell["served_variant"] == "control").all()
    assert (serving.groupby("user").size() == 3).all()  # the fallback list is a full list


def test_shadow_serves_the_control_and_writes_the_challenger_aside() -> None:
    scored = lists()
    out = serve(config("shadow"), None, scored, step="serve", assigned_at="x")
    assert (out["serving"]["served_variant"] == "control").all()
    assert len(out["variant_treatment"]) == 200 * 3  # every covered unit's challenger list, never served


def test_audience_and_coverage_keep_others_on_the_control() -> None:
    scored = lists()
    table = pd.DataFrame({"user": range(200), "is_new": [u % 2 for u in range(200)]})
    cfg = config(audience={"column": "is_new", "values": [1]}, coverage=0.5)
    out = serve(cfg, table, scored, step="serve", assigned_at="x")
    a = out["assignments"].set_index("unit")
    old = [str(u) for u in range(0, 200, 2)]
    assert not a.loc[old, "in_experiment"].any() and (a.loc[old, "variant"] == "control").all()
    inside = a[a["in_experiment"]]
    assert 20 < len(inside) < 80  # about half of the 100 new users
    serving = out["serving"]
    outside = serving[~serving["in_experiment"]]
    assert (outside["served_variant"] == "control").all()


def test_missing_scores_and_columns_are_named() -> None:
    scored = lists()
    scored["treatment"].loc[3, "score"] = np.nan
    with pytest.raises(StepInputError, match="variant 'treatment': 1 rows have no score"):
        serve(config(), None, scored, step="serve", assigned_at="x")
    scored = lists()
    scored["control"] = scored["control"].drop(columns=["item"])
    with pytest.raises(StepInputError, match=r"variant 'control'.*lacks column\(s\) \['item'\]"):
        serve(config(), None, scored, step="serve", assigned_at="x")


def test_interleave_merges_both_lists_with_teams() -> None:
    scored = lists(users=300, items=8)
    out = serve(config("interleave"), None, scored, step="serve", assigned_at="x")
    serving = out["serving"]
    assert (serving["served_variant"] == "interleaved").all()
    assert set(serving["team"]) == {"control", "treatment"}
    firsts = []
    for user, group in serving.groupby("user"):
        rows = group.sort_values("rank")
        assert rows["rank"].tolist() == [1, 2, 3] and rows["item"].is_unique
        counts = {"control": 0, "treatment": 0}
        for team, item in zip(rows["team"], rows["item"], strict=True):
            counts[team] += 1
            assert abs(counts["control"] - counts["treatment"]) <= 1  # team draft: prefixes balanced
            top = scored[team][scored[team]["user"] == user].nlargest(8, "score")["item"].tolist()
            assert item in top
        firsts.append(rows["team"].iloc[0])
    share = firsts.count("control") / len(firsts)
    assert 0.4 < share < 0.6  # the first pick is a fair coin per unit
    again = serve(config("interleave"), None, scored, step="serve", assigned_at="y")["serving"]
    pd.testing.assert_frame_equal(serving, again)  # coins from the salt and the unit: the same lists every time
