"""The human report agrees with the verdicts on no-drift data (issue 15, item 7): evidently's page is rendered
against real training rows (the training step's reservoir sample), or a profile sample that keeps discrete
columns discrete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.config import DriftSettings
from monitoring.drift import evaluate_drift
from monitoring.evidently_report import drift_flags, reference_sample, render, run_report, training_sample
from monitoring.profile import build_reference, profile_with_edges


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "remote": (rng.random(n) < 0.69).astype(float),  # the review's three flagged columns
            "required_experience": rng.integers(0, 11, n).astype(float),
            "lives_abroad": (rng.random(n) < 0.24).astype(float),
            "skill": rng.normal(50, 10, n),
            "rate": np.round(rng.lognormal(3, 0.5, n), 2),
            "category": rng.choice(["dev", "design", "ops", "data"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


NUMERIC = ["remote", "required_experience", "lives_abroad", "skill", "rate"]


@pytest.fixture(scope="module")
def null_case() -> tuple[dict, pd.DataFrame, pd.DataFrame]:  # type: ignore[type-arg]
    train, valid, batch = _frame(20_000, 1), _frame(2000, 2), _frame(5000, 3)
    outputs = pd.DataFrame({"score": 1 / (1 + np.exp(-(valid["skill"] - 50) / 10))})
    reference = build_reference(
        train,
        outputs.assign(prediction=(outputs["score"] > 0.5).astype(int)),
        numeric=NUMERIC,
        categorical=["category"],
    )
    sample = training_sample(train, outputs, rows=5000, seed=0)
    return reference, sample, batch


def test_training_sample_is_real_rows(null_case: tuple[dict, pd.DataFrame, pd.DataFrame]) -> None:  # type: ignore[type-arg]
    _, sample, _ = null_case
    train = _frame(20_000, 1)
    assert len(sample) == 5000 and set(sample["remote"].unique()) <= {0.0, 1.0}
    # every sampled row is a training row, none twice
    keys = set(map(tuple, train[NUMERIC].to_numpy()))
    assert all(tuple(r) in keys for r in sample[NUMERIC].to_numpy())
    assert not sample[[*NUMERIC, "category"]].duplicated().any()
    # outputs: out-of-sample rows only (2000 of them), null past them
    assert sample["score"].notna().sum() == 2000


def test_evidently_agrees_with_the_verdicts_on_null_data(
    null_case: tuple[dict, pd.DataFrame, pd.DataFrame],  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    reference, sample, batch = null_case
    features = {k: v for k, v in reference["columns"].items() if v["role"] == "feature"}
    verdicts = evaluate_drift(
        features, profile_with_edges(batch, {**reference, "columns": features})["columns"], DriftSettings()
    )
    assert verdicts.dataset_verdict == "no_drift"
    # the page rendered against real training rows flags nothing either
    flags = drift_flags(run_report(reference, batch, reference_rows=sample))
    assert set(flags) == set(features) and not any(flags.values()), flags
    # ... nor against a sample drawn from the profile (0/1 and integer columns keep their values)
    drawn = reference_sample({"columns": features}, 5000)
    assert set(drawn["remote"].unique()) == {0.0, 1.0}
    assert set(drawn["required_experience"].unique()) <= set(range(11))
    flags = drift_flags(run_report(reference, batch))
    assert not any(flags.values()), flags
    out = render(reference, batch, tmp_path / "e.html", reference_rows=sample)
    assert out.stat().st_size > 10_000


def test_evidently_still_sees_real_drift(null_case: tuple[dict, pd.DataFrame, pd.DataFrame]) -> None:  # type: ignore[type-arg]
    reference, sample, batch = null_case
    moved = batch.assign(remote=(np.random.default_rng(4).random(len(batch)) < 0.3).astype(float))
    assert drift_flags(run_report(reference, moved, reference_rows=sample))["remote"]


def test_check_entrypoint_keeps_the_reference_sample(
    null_case: tuple[dict, pd.DataFrame, pd.DataFrame],  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    """The check entry, given predictions with the model that scored them: the model folder's
    ``reference_sample.parquet`` (written by train) is kept beside the report for evidently's page."""
    import json

    from stepml.entry import Input, Invocation, execute

    reference, sample, batch = null_case
    model = tmp_path / "model"
    model.mkdir()
    (model / "profile.json").write_text(json.dumps(reference))
    sample.to_parquet(model / "reference_sample.parquet")
    batch.to_parquet(tmp_path / "batch.parquet")
    scores = 1 / (1 + np.exp(-(batch["skill"] - 50) / 10))
    pd.DataFrame({"score": scores, "prediction": (scores > 0.5).astype(int)}).to_parquet(tmp_path / "scores.parquet")
    inv = Invocation(
        step="check",
        type="check",
        entry="steps.check.entry:run",
        pipeline="p",
        run_id="r",
        params={},
        param_types={},
        config={"check": {}},
        inputs={
            "features": Input(kinds=("table",), tables={"": [str(tmp_path / "batch.parquet")]}),
            "score": Input(
                kinds=("predictions", "table"),
                tables={"": [str(tmp_path / "scores.parquet")]},
                model_dir=str(model),
                summary={"value": 0.8},
            ),
        },
        output_dir=str(tmp_path / "out"),
        scratch_dir=str(tmp_path / "scratch"),
    )
    assert execute(inv) == 0
    kept = pd.read_parquet(tmp_path / "out" / "reference_sample.parquet")
    pd.testing.assert_frame_equal(kept, sample)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["drift"]["dataset"]["verdict"] == "no_drift"
