"""Feature engineering of the example pipeline: plain pandas, a plain function, tested with plain pytest.

stepml gives it the extract's table as a DataFrame (the argument is named after the upstream step in the spec's
``inputs:``), its ``config:`` keys as keyword arguments, and writes the DataFrame it returns as the step's table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from examples.job_matching.ratios import safe_ratio


def add_features(raw: pd.DataFrame, *, clip_ratio: float = 3.0) -> pd.DataFrame:
    """The extract's columns plus four features the SQL does not compute (one of them free text)."""
    out = raw.copy()
    out["rate_ratio"] = safe_ratio(out["desired_hourly_rate"], out["hourly_rate_max"]).clip(upper=clip_ratio)
    out["log_last_active"] = np.log1p(out["last_active_days"].astype("float64"))
    # how many invitations the candidate received in the window: a candidate-level signal of demand
    out["candidate_invitations"] = out.groupby("candidate_id")["invitation_id"].transform("count").astype("int64")
    if set(TEXT_COLUMNS) <= set(out.columns):
        out["job_text"] = job_text(out)
    return out


TEXT_COLUMNS = ("remote", "required_experience", "rate_gap", "category", "company_size", "region")


def job_text(frame: pd.DataFrame) -> pd.Series:
    """A short free-text description of the invitation, as a recruiter would write it (for a text model)."""
    remote = np.where(frame["remote"].fillna(0).astype(int) == 1, "remote", "on-site")
    seniority = np.select(
        [frame["required_experience"] >= 8, frame["required_experience"] >= 3], ["senior", "mid-level"], "junior"
    )
    pay = np.where(frame["rate_gap"].fillna(0) >= 0, "competitive rate", "below expectations")
    parts = [
        pd.Series(seniority, index=frame.index),
        frame["category"].fillna("general").astype(str).str.replace("_", " "),
        pd.Series(remote, index=frame.index),
        frame["company_size"].fillna("unknown").astype(str) + " company",
        pd.Series(pay, index=frame.index),
        "for " + frame["region"].fillna("any region").astype(str) + " candidates",
    ]
    return parts[0].str.cat(parts[1:], sep=" ")
