"""stepml.testing: a user's unit test runs one step on in-memory inputs - no warehouse, no pipeline run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stepml.errors import StepmlError
from stepml.testing import run_step
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "job_matching" / "pipeline.yaml"


def raw_invitations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "invitation_id": [1, 2, 3, 4],
            "candidate_id": [10, 10, 11, 12],
            "desired_hourly_rate": [2000.0, 3000.0, 2500.0, 1000.0],
            "hourly_rate_max": [4000.0, 3000.0, 0.0, np.nan],
            "last_active_days": [0, 3, 30, 365],
        }
    )


def test_a_user_step_runs_on_a_dataframe_as_in_a_run(tmp_path: Path) -> None:
    # Given the example pipeline's feature step and four raw invitations
    raw = raw_invitations()
    configured = (ROOT / ".stepml" / "job-matching-features").resolve()  # the spec's artifact_root
    before = sorted(configured.rglob("*")) if configured.exists() else []
    # When the test runs the step (the same entry, process and manifest as a run, in a temporary store)
    out = run_step("features_train", spec=EXAMPLE, inputs={"extract_train": raw}, workdir=tmp_path / "store")
    # Then its table is what the function computes, committed like any output
    assert out["rate_ratio"].tolist()[:2] == [0.5, 1.0] and out["rate_ratio"].isna().tolist()[2:] == [True, True]
    assert out["candidate_invitations"].tolist() == [2, 2, 1, 1]
    assert np.allclose(out["log_last_active"], np.log1p(raw["last_active_days"]))
    manifests = list((tmp_path / "store").rglob("features_train/*/_manifest.json"))
    assert len(manifests) == 1
    # and the pipeline's own artifact root was not touched
    assert (sorted(configured.rglob("*")) if configured.exists() else []) == before


def test_inputs_must_match_what_the_step_reads() -> None:
    with pytest.raises(StepmlError, match=r"inputs missing: \['extract_train'\], not its inputs: \['wrong'\]"):
        run_step("features_train", spec=EXAMPLE, inputs={"wrong": raw_invitations()})
