"""Reference profiles: counts, quantile edges, exact merging of partitions, no NaN/Inf on edge cases."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring.profile import OTHER, SCHEMA, build_profile, merge_profiles, profile_with_edges


def _walk_finite(obj: Any, where: str = "$") -> None:
    """Every number in ``obj`` is finite (JSON has no NaN/Inf)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), f"{where}: non-string key {k!r}"
            _walk_finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk_finite(v, f"{where}[{i}]")
    elif isinstance(obj, bool) or obj is None or isinstance(obj, str):
        pass
    elif isinstance(obj, int | float):
        assert type(obj) in (int, float), f"{where}: {type(obj).__name__} is not a plain Python number"
        assert math.isfinite(obj), f"{where}: {obj!r}"
    else:
        raise AssertionError(f"{where}: unexpected {type(obj).__name__}")


def _roundtrip(profile: dict[str, Any]) -> dict[str, Any]:
    _walk_finite(profile)
    back = json.loads(json.dumps(profile, allow_nan=False))
    assert back == profile
    return back  # type: ignore[no-any-return]


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal profiles: everything exact except mean/std and the sums of in-bin positions (float rounding)."""
    assert a["rows"] == b["rows"]
    assert list(a["columns"]) == list(b["columns"])
    for name, cb in b["columns"].items():
        ca = a["columns"][name]
        exact = {k: v for k, v in cb.items() if k not in ("mean", "std", "interior_positions")}
        assert {k: ca[k] for k in exact} == exact, name
        if "interior_positions" in cb:
            assert ca["interior_positions"] == pytest.approx(cb["interior_positions"], rel=1e-9, abs=1e-9), name
        for stat in ("mean", "std"):
            if stat in cb and cb[stat] is None:
                assert ca[stat] is None, (name, stat)
            elif stat in cb:
                assert ca[stat] == pytest.approx(cb[stat], rel=1e-9, abs=1e-12), (name, stat)


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 3.0, n)
    x[rng.random(n) < 0.1] = np.nan
    cats = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]).astype(object)
    cats[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 5, n),
            "c": cats,
            "score": rng.random(n),
        }
    )


def test_counts_and_null_fractions() -> None:
    df = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, None, 5.0],
            "i": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "c": ["a", None, "b", "a", None],
        }
    )
    p = _roundtrip(build_profile(df, numeric=["x", "i"], categorical=["c"]))
    assert p["schema"] == SCHEMA
    assert p["rows"] == 5
    x, i, c = p["columns"]["x"], p["columns"]["i"], p["columns"]["c"]
    assert (x["count"], x["null_count"], x["null_fraction"]) == (3, 2, 0.4)
    assert (i["count"], i["null_count"], i["null_fraction"]) == (4, 1, 0.2)
    assert (c["count"], c["null_count"], c["null_fraction"]) == (3, 2, 0.4)
    assert x["kind"] == "numeric" and c["kind"] == "categorical"
    assert x["role"] == "feature"
    assert (x["min"], x["max"], x["mean"]) == (1.0, 5.0, 3.0)
    assert x["std"] == pytest.approx(np.std([1.0, 3.0, 5.0]))
    assert c["frequencies"] == {"a": 2, "b": 1, OTHER: 0}
    assert sum(x["bin_counts"]) == x["count"]


def test_quantile_edges_and_right_closed_bins() -> None:
    df = pd.DataFrame({"x": np.arange(101, dtype=float)})  # 0..100
    p = _roundtrip(build_profile(df, numeric=["x"], categorical=[], bins=4))
    col = p["columns"]["x"]
    assert col["bin_edges"] == [0.0, 25.0, 50.0, 75.0, 100.0]
    # (-inf,0] (0,25] (25,50] (50,75] (75,100] (100,inf)
    assert col["bin_counts"] == [1, 25, 25, 25, 25, 0]
    assert col["edge_counts"] == [1, 1, 1, 1, 1]

    # outer bins are open-ended; interior bins are right-closed; tails keep their excess distance
    new = pd.DataFrame({"x": [-1e9, 0.0, 24.999, 25.0, 99.0, 100.0, 1e9, np.inf, -np.inf, np.nan]})
    q = _roundtrip(profile_with_edges(new, p))["columns"]["x"]
    assert q["bin_edges"] == col["bin_edges"]
    assert q["bin_counts"] == [3, 2, 0, 0, 2, 2]
    assert q["edge_counts"] == [1, 1, 0, 0, 1]
    assert q["nonfinite_count"] == 2
    assert (q["min"], q["max"]) == (-1e9, 1e9)
    assert q["null_count"] == 1
    assert (q["below_sum"], q["above_sum"]) == (1e9, 1e9 - 100.0)


@pytest.mark.parametrize(
    ("values", "bins", "edges"),
    [
        ([1, 1, 1, 1, 2], 4, [1.0, 2.0]),  # few distinct values: every value is an edge
        ([5, 5, 5], 10, [5.0]),  # constant: one edge, values <= it and values above it
        ([7], 3, [7.0]),
        ([0, 1, 1, 0, 1], 1000, [0.0, 1.0]),  # binary: {0}, {1} and > 1 stay apart
    ],
)
def test_edges_are_deduplicated(values: list[int], bins: int, edges: list[float]) -> None:
    p = _roundtrip(build_profile(pd.DataFrame({"v": values}), numeric=["v"], categorical=[], bins=bins))
    col = p["columns"]["v"]
    assert col["bin_edges"] == edges
    assert len(col["bin_counts"]) == len(edges) + 1
    assert sum(col["bin_counts"]) == len(values)
    assert col["bin_counts"][-1] == 0  # nothing above the reference's maximum


def test_many_distinct_values_get_quantile_edges() -> None:
    x = np.random.default_rng(3).normal(size=50_000)
    col = build_profile(pd.DataFrame({"x": x}), numeric=["x"], categorical=[])["columns"]["x"]
    assert len(col["bin_edges"]) == 1001
    assert col["bin_edges"][0] == x.min() and col["bin_edges"][-1] == x.max()
    counts = np.asarray(col["bin_counts"][1:-1])
    assert counts.min() >= 49 and counts.max() <= 51  # 50 per quantile bin


def test_top_categories_and_other() -> None:
    df = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 1 + [OTHER]})
    p = _roundtrip(build_profile(df, numeric=[], categorical=["c"], max_categories=2))
    freq = p["columns"]["c"]["frequencies"]
    assert freq == {"a": 5, "b": 3, OTHER: 5}  # tie b/c broken by value; literal "__other__" folded in
    assert list(freq) == ["a", "b", OTHER]


def test_prediction_role_and_inferred_kind() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0], "pred": [0.2, 0.9], "label": ["yes", "no"]})
    p = build_profile(df, numeric=["x"], categorical=[], prediction="pred")
    assert p["columns"]["pred"]["role"] == "prediction"
    assert p["columns"]["pred"]["kind"] == "numeric"
    q = build_profile(df, numeric=["x"], categorical=[], prediction="label")
    assert q["columns"]["label"]["kind"] == "categorical"
    r = build_profile(df, numeric=["x"], categorical=["label"], prediction="label")
    assert r["columns"]["label"] == q["columns"]["label"]
    assert list(r["columns"]) == ["x", "label"]


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_merge_of_parts_equals_whole(parts: int) -> None:
    df = _frame(503)
    ref = build_profile(df, numeric=["x", "k"], categorical=["c"], prediction="score", bins=8, max_categories=2)
    bounds = np.linspace(0, len(df), parts + 1).astype(int)
    chunks = [df.iloc[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    merged = profile_with_edges(chunks[0], ref)
    for chunk in chunks[1:]:
        merged = merge_profiles(merged, profile_with_edges(chunk, ref))
    whole = profile_with_edges(df, ref)
    _roundtrip(merged)
    assert merged["rows"] == len(df)
    _assert_same(merged, whole)
    _assert_same(merged, ref)  # the reference, built on the same data, is the same profile


def test_merge_with_empty_and_all_null_parts() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 4.0, np.nan], "c": ["a", "b", None, "a"]})
    ref = build_profile(df, numeric=["x"], categorical=["c"])
    empty = profile_with_edges(df.iloc[:0], ref)
    nulls = profile_with_edges(df.iloc[3:], ref)  # x is null there
    full = profile_with_edges(df, ref)
    m = merge_profiles(merge_profiles(empty, profile_with_edges(df.iloc[:3], ref)), nulls)
    _assert_same(_roundtrip(m), full)
    assert m["columns"]["x"]["null_fraction"] == 0.25
    assert merge_profiles(empty, empty)["columns"]["x"]["mean"] is None


def test_merge_rejects_different_edges() -> None:
    a = build_profile(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), numeric=["x"], categorical=[])
    b = build_profile(pd.DataFrame({"x": [10.0, 20.0, 30.0]}), numeric=["x"], categorical=[])
    with pytest.raises(ValueError, match="bin edges differ"):
        merge_profiles(a, b)
    with pytest.raises(ValueError, match=r"not a stepml\.profile/2"):
        merge_profiles(a, {"schema": "other"})


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"x": [3.0] * 5, "c": ["a"] * 5}),  # constant
        pd.DataFrame({"x": [np.nan] * 4, "c": [None] * 4}),  # all null
        pd.DataFrame({"x": pd.Series([], dtype=float), "c": pd.Series([], dtype=object)}),  # empty
        pd.DataFrame({"x": [np.inf, -np.inf, np.nan], "c": ["a", "b", "c"]}),  # no finite values
        pd.DataFrame({"x": [1e308, 1e308, -1e308], "c": ["a", "a", "b"]}),  # overflowing mean/std
    ],
    ids=["constant", "all-null", "empty", "nonfinite", "huge"],
)
def test_edge_cases_have_no_nan_or_inf(frame: pd.DataFrame) -> None:
    p = _roundtrip(build_profile(frame, numeric=["x"], categorical=["c"], prediction=None))
    col = p["columns"]["x"]
    assert sum(col["bin_counts"]) == col["count"]
    assert len(col["bin_counts"]) == len(col["bin_edges"]) + 1 if col["bin_edges"] else len(col["bin_counts"]) == 1
    assert p["rows"] == len(frame)
    if len(frame) == 0:
        assert col["null_fraction"] == 0.0 and col["count"] == 0 and col["notes"]
    if col["mean"] is None:
        assert col["notes"]  # says why
    # a new batch against this reference, and merging, stay finite too
    other = pd.DataFrame({"x": [1.0, 2.0, np.nan], "c": ["zzz", None, "a"]})
    q = _roundtrip(profile_with_edges(other, p))
    _roundtrip(merge_profiles(q, profile_with_edges(frame, p)))


def test_unseen_category_goes_to_other() -> None:
    ref = build_profile(pd.DataFrame({"c": ["a", "b", "a"]}), numeric=[], categorical=["c"])
    q = _roundtrip(profile_with_edges(pd.DataFrame({"c": ["a", "new", "newer", None]}), ref))
    assert q["columns"]["c"]["frequencies"] == {"a": 1, "b": 0, OTHER: 2}
    assert q["columns"]["c"]["null_count"] == 1


def test_mixed_value_types_become_string_keys() -> None:
    df = pd.DataFrame({"c": [1, 2, 2, True], "b": [True, False, True, True]})
    p = _roundtrip(build_profile(df, numeric=["b"], categorical=["c"]))
    assert set(p["columns"]["c"]["frequencies"]) == {"1", "2", "True", OTHER}
    assert p["columns"]["b"]["mean"] == 0.75


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numeric": ["nope"], "categorical": []}, "not in the frame"),
        ({"numeric": ["s"], "categorical": []}, "declared numeric"),
        ({"numeric": ["x"], "categorical": ["x"]}, "more than once"),
        ({"numeric": ["x"], "categorical": [], "bins": 0}, "bins"),
        ({"numeric": ["x"], "categorical": [], "prediction": "missing"}, "not in the frame"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    df = pd.DataFrame({"x": [1.0], "s": ["a"]})
    with pytest.raises(ValueError, match=message):
        build_profile(df, **kwargs)


def test_profile_with_edges_requires_reference_columns() -> None:
    ref = build_profile(pd.DataFrame({"x": [1.0, 2.0]}), numeric=["x"], categorical=[])
    with pytest.raises(ValueError, match=r"'x'.*available: y"):
        profile_with_edges(pd.DataFrame({"y": [1.0]}), ref)
