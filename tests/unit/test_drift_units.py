"""Entity-aware drift (issue 15, item 2): rows cluster by entity (a candidate's ~10 invitations repeat its
features), so tests and minimum sample sizes count units, one row per unit.

Vectorized null sweeps with fixed seeds: entities with a continuous and a 0/1 feature and Poisson-sized
clusters; the raw tests' rejection rate per batch size must sit in the binomial 99% interval of alpha (the
oracle), the verdicts (tests + effect gates + BH) must false-alarm at no more than alpha."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import binom, ks_2samp

from monitoring.checks import run_checks
from monitoring.config import CheckConfig, DriftSettings
from monitoring.drift import compare_column, evaluate_drift
from monitoring.profile import (
    NumericAccumulator,
    build_profile,
    build_reference,
    first_of_units,
    profile_with_edges,
    quantile_edges,
)

ALPHA = 0.05
TRIALS = 1000


def entities(rng: np.random.Generator, n: int, mean_rows: float = 10.0) -> pd.DataFrame:
    """One row per entity: its id, features and how many rows (invitations) it has."""
    return pd.DataFrame(
        {
            "unit": rng.choice(10**9, n, replace=False),
            "x": rng.normal(size=n),
            "b": (rng.random(n) < 0.3).astype(float),
            "size": 1 + rng.poisson(mean_rows - 1, n),
        }
    )


def rows(units: pd.DataFrame, rng: np.random.Generator, limit: int | None = None) -> pd.DataFrame:
    """The entities' rows, interleaved at random (a time-ordered extract), the first ``limit`` of them."""
    expanded = units.loc[units.index.repeat(units["size"])].drop(columns="size")
    expanded = expanded.iloc[rng.permutation(len(expanded))].reset_index(drop=True)
    return expanded if limit is None else expanded.iloc[:limit]


def test_first_of_units_keeps_one_row_per_unit_across_partitions() -> None:
    a = pa.array([3, 1, 3, None, 2, 1])
    b = pa.array([2, 4, 4, 5])
    seen: list[set[object]] = [set()]
    assert first_of_units([a], seen).tolist() == [True, True, False, False, True, False]
    assert first_of_units([b], seen).tolist() == [False, True, False, True]  # 2 was met in the first part
    # two unit columns: the kept rows have distinct values in both
    cand, job = pa.array([1, 2, 1, 3, 4]), pa.array([9, 9, 8, 7, 7])
    assert first_of_units([cand, job]).tolist() == [True, False, False, True, False]


def null_trial(rng: np.random.Generator, batch_rows: int) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """Unit-level reference and batch profiles of one null trial (numpy only: fast), and the batch's raw x rows.

    The reference has 3000 entities; the batch is the first ``batch_rows`` rows of other entities, each
    entity's ~10 rows together (a time window: "1000 rows came from 59 jobs"). One row per unit of an entity-level feature is the entity's value, so the unit-level samples are the
    values of the distinct entities met (what first_of_units selects, tested exactly below).
    """
    ref_x, ref_b = rng.normal(size=3000), (rng.random(3000) < 0.3).astype(float)
    n = 2000
    x, b = rng.normal(size=n), (rng.random(n) < 0.3).astype(float)
    entity_of_row = np.repeat(np.arange(n), 1 + rng.poisson(9, n))[:batch_rows]
    met = np.unique(entity_of_row)
    ref, cur = {}, {}
    for name, r, c in [("x", ref_x, x[met]), ("b", ref_b, b[met])]:
        acc_r, acc_c = NumericAccumulator(quantile_edges(r, 1000)), NumericAccumulator(quantile_edges(r, 1000))
        acc_r.add(r)
        acc_c.add(c)
        ref[name], cur[name] = acc_r.to_profile(), acc_c.to_profile()
    return ref, cur, x[entity_of_row]


@pytest.mark.parametrize("batch_rows", [200, 1000])
def test_raw_tests_reject_at_alpha_on_clustered_rows(batch_rows: int) -> None:
    # Given 1000 null trials: the batch's rows cluster by entity (~10 rows each)
    rng = np.random.default_rng(batch_rows)
    settings = DriftSettings()
    per_unit = {"x": 0, "b": 0}
    per_row = 0
    for _ in range(TRIALS):
        ref, cur, raw_x = null_trial(rng, batch_rows)
        for name in per_unit:
            stats, _ = compare_column(name, ref[name], cur[name], settings)
            per_unit[name] += stats["p_value"] < ALPHA
        # rows taken as independent (as on 8d3e990): scipy's KS on the batch's raw rows vs the reference
        per_row += ks_2samp(rng.normal(size=3000), raw_x).pvalue < ALPHA
    lo, hi = binom.interval(0.99, TRIALS, ALPHA)
    # Then counting units, each test rejects at alpha; counting rows, KS rejects far more often
    for name, rejected in per_unit.items():
        assert lo <= rejected <= hi, (name, rejected / TRIALS, (lo / TRIALS, hi / TRIALS))
    assert per_row / TRIALS > 0.2


@pytest.mark.parametrize("batch_rows", [200, 1000, 5000])
def test_verdicts_false_alarm_at_most_alpha_on_clustered_rows(batch_rows: int) -> None:
    rng = np.random.default_rng(10 + batch_rows)
    alarms = 0
    for _ in range(TRIALS):
        ref, cur, _ = null_trial(rng, batch_rows)
        alarms += evaluate_drift(ref, cur, DriftSettings()).dataset_verdict == "drift"
    assert alarms <= binom.ppf(0.99, TRIALS, ALPHA), alarms / TRIALS


def test_minimum_sample_size_counts_units_and_says_so() -> None:
    # Given 1000 rows from 40 entities (~25 rows each): 1000 rows, but only 40 independent values
    rng = np.random.default_rng(3)
    ref_rows = rows(entities(rng, 3000), rng)
    cur_rows = rows(entities(rng, 40, mean_rows=25), rng)
    reference = build_profile(ref_rows, numeric=["x"], categorical=[], units={"x": ["unit"]})
    stats, testable = compare_column(
        "x", reference["columns"]["x"], profile_with_edges(cur_rows, reference)["columns"]["x"], DriftSettings()
    )
    assert not testable and stats["sample_size"] == 40
    assert "40 non-null unit(s)" in stats["extra"]["reason"] and "each unit counts once" in stats["extra"]["reason"]


def test_check_step_counts_units_from_the_spec(tmp_path: Path) -> None:
    # Given the spec's check config naming the unit of x, and a reference written as the training step does
    rng = np.random.default_rng(4)
    config = CheckConfig.model_validate({"drift": {"units": {"unit": ["x"]}}})
    assert config.profile_units() == {"x": ["unit"]}
    train = rows(entities(rng, 3000), rng)
    reference = build_reference(
        train,
        pd.DataFrame({"prediction": np.zeros(500)}),
        numeric=["x", "b"],
        categorical=[],
        units=config.profile_units(),
    )
    assert reference["columns"]["x"]["units"] == ["unit"]
    assert reference["columns"]["x"]["count"] == train["unit"].nunique()
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "profile.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(reference)))
    assert reference["columns"]["b"]["count"] == len(train)
    batch = rows(entities(rng, 500), rng, 3000)
    # When the batch is checked in two partitions (a unit may span both)
    half = len(batch) // 2
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(pa.Table.from_pandas(batch.iloc[:half]), paths[0])
    pq.write_table(pa.Table.from_pandas(batch.iloc[half:]), paths[1])
    pq.write_table(pa.table({"prediction": np.zeros(len(batch))}), tmp_path / "p.parquet")
    report = run_checks(
        paths, config, reference=json.loads(json.dumps(reference)), prediction_paths=[tmp_path / "p.parquet"]
    )
    # Then x is tested on one row per unit over the whole batch, b (no unit) on every row
    x = next(c for c in report.checks if c.key == "drift:x")
    b = next(c for c in report.checks if c.key == "drift:b")
    assert x.details is not None and x.details["units"] == ["unit"]
    assert x.sample_size == batch["unit"].nunique()
    assert b.sample_size == len(batch)
    # ... with exactly the statistic of scipy on the first row of each unit
    firsts = batch.loc[first_of_units([batch["unit"]]), "x"]
    ref_firsts = train.loc[first_of_units([train["unit"]]), "x"]
    assert x.details["statistic"] == pytest.approx(ks_2samp(ref_firsts, firsts).statistic, abs=2e-3)


def test_training_entrypoint_profiles_unit_features_per_unit(tmp_path: Path) -> None:
    # Given training rows clustered by entity and a config naming the unit of x (as the spec's check does)
    from steps.train.config import TrainConfig
    from steps.train.entry import train, write_outputs

    rng = np.random.default_rng(5)
    frame = rows(entities(rng, 300), rng)
    frame["label"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-frame["x"]))).astype(int)
    config = TrainConfig.from_hyperparameters(
        {
            "task": "classification",
            "target": "label",
            "features": '["x", "b"]',
            "model_params": '{"max_iter": 10}',
            "profile_units": json.dumps(
                CheckConfig.model_validate({"drift": {"units": {"unit": ["x"]}}}).profile_units()
            ),
        }
    )
    write_outputs(train(frame, config), config, tmp_path, frame)
    profile = json.loads((tmp_path / "profile.json").read_text())
    # Then x is profiled on one row per entity, b on every row
    assert profile["columns"]["x"]["units"] == ["unit"] and profile["columns"]["x"]["count"] == 300
    assert "units" not in profile["columns"]["b"] and profile["columns"]["b"]["count"] == len(frame)
