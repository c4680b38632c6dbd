"""Assignment of units to variants: a salted SHA-256, identical wherever it runs, stable under coverage changes."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from stepml.experiments.assign import BUCKETS, assign, bucket, differences, draw, pick, split, unit_text


def settings(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "experiment": "t",
        "kind": "ab",
        "unit": "candidate_id",
        "salt": "s1",
        "layer": "ranking",
        "offset": 0.0,
        "weights": {"control": 0.5, "treatment": 0.5},
    }
    return {**base, **over}


def test_bucket_and_draw_are_the_documented_sha256() -> None:
    """The hash is spelled out (a port to SQL or another language must match): first 8 bytes, big-endian."""
    h = int.from_bytes(hashlib.sha256(b"ranking|42").digest()[:8], "big")
    assert bucket("ranking", 42) == h % BUCKETS
    d = int.from_bytes(hashlib.sha256(b"s1|variant|42").digest()[:8], "big") / 2**64
    assert draw("s1", 42) == d


def test_unit_ids_are_canonical_across_types() -> None:
    import numpy as np

    assert unit_text(42) == unit_text(42.0) == unit_text("42") == unit_text(np.int64(42)) == "42"
    assert unit_text(True) == "true"
    assert unit_text(4.5) == "4.5"
    a = assign([42, 42.0, "42", np.int32(42)], settings(), 1.0)
    assert len(a) == 1  # one unit, however its id is typed


def test_same_assignment_in_a_fresh_interpreter() -> None:
    """No process state (PYTHONHASHSEED, import order) enters: another interpreter assigns identically."""
    code = (
        "from stepml.experiments.assign import assign;"
        "s={'experiment':'t','kind':'ab','unit':'u','salt':'s1','layer':'ranking','offset':0.0,"
        "'weights':{'control':0.5,'treatment':0.5}};"
        "print(','.join(f'{a.unit}:{a.variant}:{a.bucket}' for a in assign(range(200), s, 0.7)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    here = ",".join(f"{a.unit}:{a.variant}:{a.bucket}" for a in assign(range(200), settings(), 0.7))
    assert out == here


def test_split_follows_the_weights() -> None:
    found = assign(range(40_000), settings(weights={"a": 0.2, "b": 0.3, "c": 0.5}), 1.0)
    counts = split(found)
    n = sum(counts.values())
    assert n == 40_000
    for name, w in {"a": 0.2, "b": 0.3, "c": 0.5}.items():
        assert abs(counts[name] / n - w) < 0.015


def test_raising_coverage_never_moves_an_assigned_unit() -> None:
    low = {a.unit: a for a in assign(range(20_000), settings(), 0.1)}
    high = {a.unit: a for a in assign(range(20_000), settings(), 0.6)}
    inside_low = {u for u, a in low.items() if a.in_experiment}
    assert 0.08 < len(inside_low) / 20_000 < 0.12
    for u in inside_low:  # still in, same variant
        assert high[u].in_experiment and high[u].variant == low[u].variant
    assert sum(a.in_experiment for a in high.values()) > 5 * len(inside_low)


def test_experiments_of_one_layer_never_share_a_unit() -> None:
    first = assign(range(20_000), settings(offset=0.0), 0.4)
    second = assign(range(20_000), settings(salt="s2", offset=0.4), 0.6)
    both = {a.unit for a in first if a.in_experiment} & {a.unit for a in second if a.in_experiment}
    assert not both
    assert all(a.in_experiment or b.in_experiment for a, b in zip(first, second, strict=True))


def test_the_salt_reshuffles_variants() -> None:
    one = assign(range(5000), settings(), 1.0)
    two = assign(range(5000), settings(salt="other"), 1.0)
    same = sum(a.variant == b.variant for a, b in zip(one, two, strict=True)) / 5000
    assert 0.45 < same < 0.55  # independent: agreement at chance


def test_pick_skips_zero_weights() -> None:
    assert {pick({"a": 0.0, "b": 1.0}, u / 100) for u in range(100)} == {"b"}


def test_non_ab_kinds_serve_the_control_to_every_covered_unit() -> None:
    found = assign(range(1000), settings(kind="shadow", weights={"live": 1.0, "shadow": 0.0}), 1.0)
    assert {a.variant for a in found} == {"live"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("salt", "s2"),
        ("weights", {"control": 0.6, "treatment": 0.4}),
        ("layer", "x"),
        ("offset", 0.1),
        ("unit", "user_id"),
        ("kind", "shadow"),
        ("weights", {"control": 0.5, "b": 0.5}),
    ],
)
def test_differences_name_the_changed_setting(field: str, value: object) -> None:
    found = differences(settings(), settings(**{field: value}))
    assert [f for f, _, _ in found] == [field]


def test_no_difference_for_the_same_settings() -> None:
    assert differences(settings(), settings()) == []
