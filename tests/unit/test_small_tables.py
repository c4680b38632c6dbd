"""Small real tables (issue 15, item 3): training and scoring rows from one distribution never fail a check.

scikit-learn's bundled diabetes (442 rows, regression) and breast-cancer (569 rows, classification) data, split
at random into a training extract and a scored batch; the real training entrypoint writes the reference
profile, the check runs with its expectation suite. And the range/in-set allowance, swept vectorized against
the binomial oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import binom

from monitoring.checks import run_checks, with_checks
from monitoring.config import CheckConfig, ExpectationSettings
from monitoring.expectations import allowed_unexpected, run_expectations
from steps._model import Task
from steps.train.config import TrainConfig
from steps.train.entry import train, write_outputs


def _table(name: str) -> tuple[pd.DataFrame, TrainConfig]:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    data = load_diabetes(as_frame=True) if name == "diabetes" else load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    features = tuple(c for c in frame.columns if c != "target")
    task: Task = "regression" if name == "diabetes" else "classification"
    return frame, TrainConfig(task=task, target="target", features=features, model_params={"max_iter": 30})


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_distribution_small_tables_pass_every_check(tmp_path: Path, name: str, seed: int) -> None:
    # Given a random 75/25 split of a small real table into training rows and a scored batch
    frame, config = _table(name)
    rng = np.random.default_rng(seed)
    scored = rng.random(len(frame)) < 0.25
    training, batch = frame[~scored].reset_index(drop=True), frame[scored].reset_index(drop=True)
    result = train(training, config)
    write_outputs(result, config, tmp_path / "model", training)
    import json

    reference = json.loads((tmp_path / "model" / "profile.json").read_text())
    features = batch[list(config.features)]
    predictions = pd.DataFrame({"prediction": result.model.predict(features)})
    if config.task == "classification":
        predictions["score"] = result.model.predict_proba(features)[:, 1]
    pq.write_table(pa.Table.from_pandas(features), tmp_path / "features.parquet")
    pq.write_table(pa.Table.from_pandas(predictions), tmp_path / "predictions.parquet")
    # When the check runs with its expectation suite
    cfg = CheckConfig()
    report = run_checks(
        [tmp_path / "features.parquet"], cfg, reference=reference, prediction_paths=[tmp_path / "predictions.parquet"]
    )
    paths = [str(tmp_path / "features.parquet"), str(tmp_path / "predictions.parquet")]
    report = with_checks(report, run_expectations(reference, cfg, paths))
    # Then the feature reference is the whole training set, and no data-quality check fails (drift verdicts
    # false-alarm at most at alpha by design: their sweeps are in test_drift_units.py and bench/)
    assert all(reference["columns"][c]["count"] == len(training) for c in config.features)
    failed = [c for c in report.failed if c.name not in ("drift", "dataset_drift")]
    assert failed == [], report.describe_failures()
    # ... and a column without a verdict says why in plain words
    for c in report.checks:
        if c.name == "drift" and c.status == "insufficient_data":
            assert "too few to judge" in (c.details or {})["reason"]


def test_range_allowance_false_failure_rate_matches_the_binomial_oracle() -> None:
    # Given 4000 null draws per (reference size N, batch size n): batch and reference from one heavy-tailed
    # continuous distribution (Student t, 3 dof). Whatever the distribution, the mass outside [min, max] of N
    # reference values is Beta(2, N - 1) (mean 2/(N+1)); widening the range only lowers it.
    rng = np.random.default_rng(15)
    rate = ExpectationSettings().false_failure_rate
    trials = 4000
    for n_ref, n in [(20, 5), (69, 30), (91, 200), (354, 88), (1000, 1000), (100, 20_000)]:
        ref = rng.standard_t(3, (trials, n_ref))
        lo, hi = ref.min(axis=1), ref.max(axis=1)
        span = hi - lo
        cur = rng.standard_t(3, (trials, n))
        outside = ((cur < (lo - 0.1 * span)[:, None]) | (cur > (hi + 0.1 * span)[:, None])).sum(axis=1)
        allowed = allowed_unexpected(n, 0.01, (2, n_ref - 1), rate)
        failures = int((outside > allowed).sum())
        # Then failures are at most the configured rate (99% binomial bound on the count)
        assert failures <= binom.ppf(0.99, trials, rate), (n_ref, n, failures, allowed)
        # ... while the old rule (1% of the batch) failed far more often where the reference is small
        if n_ref <= 91:
            assert ((outside > int(0.01 * n)).mean()) > 5 * rate


def test_allowance_still_catches_a_real_range_violation() -> None:
    # 5% of 1000 values outside the range of a 1000-value reference: allowed is far below
    assert allowed_unexpected(1000, 0.01, (2, 999), 0.001) < 50
