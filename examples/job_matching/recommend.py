"""After scoring: per candidate, the job posts most likely to be accepted - the list a recommender would show."""

from __future__ import annotations

import pandas as pd

from stepml import StepContext


def top_k(scores: pd.DataFrame, ctx: StepContext, *, k: int = 5) -> pd.DataFrame:
    """The ``k`` best-scored job posts of each candidate, ranked from 1."""
    ranked = scores.sort_values(["candidate_id", "score", "job_id"], ascending=[True, False, True])
    ranked = ranked.assign(rank=ranked.groupby("candidate_id").cumcount() + 1)
    best = ranked[ranked["rank"] <= k][["candidate_id", "rank", "job_id", "invitation_id", "score"]]
    ctx.log.info("top %d job posts for %d candidates", k, best["candidate_id"].nunique())
    return best.reset_index(drop=True)
