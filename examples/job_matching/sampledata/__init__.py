"""Deterministic sample warehouse for the reference job-matching pipeline.

Writes a DuckDB file with three tables::

    candidates(candidate_id BIGINT, region VARCHAR, years_experience DOUBLE, skill_score DOUBLE,
               desired_hourly_rate DOUBLE, lives_abroad BOOLEAN, last_active_days INTEGER, signup_date DATE)
    job_posts(job_id BIGINT, category VARCHAR, hourly_rate_min DOUBLE, hourly_rate_max DOUBLE,
              required_experience DOUBLE, remote BOOLEAN, company_size VARCHAR, posted_at DATE)
    invitations(invitation_id BIGINT, candidate_id BIGINT, job_id BIGINT, sent_at TIMESTAMP, accepted BOOLEAN)

Two periods are generated: the history period ``[as_of - history_days, as_of)`` with ``rows``
invitations and the scoring period ``[as_of, as_of + score_days)`` with ``score_rows`` invitations. Each
period has its own cohort of candidates and job posts (the scoring cohort signs up later on average, its job
posts are posted inside the scoring window), so the ``missing`` and ``drift`` knobs, which change only the
scoring cohort, never touch a row that a training extract reads.

``accepted`` follows a logistic ground truth over the features (pay above the asked rate, matching experience,
skill, remote work, recent activity, a few region/category/company-size effects), with a base rate near 30%.
Scoring-period invitations carry ``accepted`` too, as ground truth for a later evaluation; it is computed from
the drifted feature values, before NULLs are injected (a NULL hides a value, it does not change the truth).

Everything is drawn from named random streams derived from ``seed``: the same config always produces identical
tables, and turning a knob on changes only the column it names (in the scoring cohort).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from examples.job_matching.sampledata.config import (
    CATEGORICAL_COLUMNS,
    INJECTABLE_COLUMNS,
    NUMERIC_COLUMNS,
    SampleConfig,
    SampleSummary,
    parse_knobs,
)
from examples.job_matching.sampledata.generate import (
    _apply_drift,
    _apply_missing,
    _candidates,
    _ground_truth,
    _invitations,
    _jobs,
    _n_candidates,
    _n_jobs,
    _Period,
)


def write_sample_warehouse(path: Path, config: SampleConfig) -> SampleSummary:
    """Generate the sample warehouse into ``path`` (a DuckDB file), replacing it atomically if it exists."""
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    _remove_db(tmp)

    history_start = config.as_of - timedelta(days=config.history_days)
    hist = _Period(
        name="history",
        start=history_start,
        days=config.history_days,
        n_invitations=config.rows,
        first_candidate_id=1,
        first_job_id=1,
        first_invitation_id=1,
        signup_extra_days=0,
    )
    hist_cands = _candidates(config.seed, hist, _n_candidates(config.rows))
    hist_jobs = _jobs(config.seed, hist, _n_jobs(config.rows, config.history_days))

    score = _Period(
        name="scoring",
        start=config.as_of,
        days=config.score_days,
        n_invitations=config.score_rows,
        first_candidate_id=1 + len(hist_cands.ids),
        first_job_id=1 + len(hist_jobs.ids),
        first_invitation_id=1 + config.rows,
        # spread the later sign-ups so that tenure at invitation time has the same mean in both periods
        signup_extra_days=max(config.history_days - config.score_days, 0),
    )
    score_cands = _candidates(config.seed, score, _n_candidates(config.score_rows))
    score_jobs = _jobs(config.seed, score, _n_jobs(config.score_rows, config.score_days))

    hist_inv = _invitations(config.seed, hist, hist_cands, hist_jobs)
    score_inv = _invitations(config.seed, score, score_cands, score_jobs)

    _apply_drift(config, hist_cands, hist_jobs, score_cands, score_jobs, score_inv)
    hist_inv.accepted = _ground_truth(config.seed, hist, hist_cands, hist_jobs, hist_inv)
    score_inv.accepted = _ground_truth(config.seed, score, score_cands, score_jobs, score_inv)
    _apply_missing(config, score_cands, score_jobs, score_inv)

    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(_DDL)
            for cands in (hist_cands, score_cands):
                _insert(con, "candidates", cands.to_arrow())
            for jobs in (hist_jobs, score_jobs):
                _insert(con, "job_posts", jobs.to_arrow())
            for inv, period in ((hist_inv, hist), (score_inv, score)):
                _insert(con, "invitations", inv.to_arrow(period))
            counts = {
                table: int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
                for table in ("candidates", "job_posts", "invitations")
            }
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _remove_file(Path(f"{path}.wal"))  # a stale WAL of the old file must not be replayed onto the new one
        os.replace(tmp, path)
    except BaseException:
        _remove_db(tmp)
        raise
    return SampleSummary(path=path, tables=counts)


# ----------------------------------------------------------------------------------------------------------
# DuckDB loading

_DDL = """
CREATE TABLE candidates (
    candidate_id BIGINT, region VARCHAR, years_experience DOUBLE, skill_score DOUBLE,
    desired_hourly_rate DOUBLE, lives_abroad BOOLEAN, last_active_days INTEGER, signup_date DATE
);
CREATE TABLE job_posts (
    job_id BIGINT, category VARCHAR, hourly_rate_min DOUBLE, hourly_rate_max DOUBLE,
    required_experience DOUBLE, remote BOOLEAN, company_size VARCHAR, posted_at DATE
);
CREATE TABLE invitations (
    invitation_id BIGINT, candidate_id BIGINT, job_id BIGINT, sent_at TIMESTAMP, accepted BOOLEAN
);
"""


def _insert(con: Any, table: str, data: Any) -> None:
    view = f"_stepml_load_{table}"
    con.register(view, data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _remove_db(path: Path) -> None:
    _remove_file(path)
    _remove_file(Path(f"{path}.wal"))


def generate(
    path: Path,
    *,
    rows: int = 200_000,
    score_rows: int = 100_000,
    seed: int = 7,
    missing: Sequence[str] | dict[str, float] = (),
    drift: Sequence[str] | dict[str, float] = (),
) -> SampleSummary:
    """The sample generator a spec names (``warehouse.local.sample.generator``): ``missing``/``drift`` as
    ``COLUMN=VALUE`` strings (``stepml sample-data --missing a=0.2``) or a mapping."""
    config = SampleConfig(
        rows=rows,
        score_rows=score_rows,
        seed=seed,
        missing=missing if isinstance(missing, dict) else parse_knobs(list(missing), what="missing"),
        drift=drift if isinstance(drift, dict) else parse_knobs(list(drift), what="drift"),
    )
    return write_sample_warehouse(path, config)


__all__ = [
    "CATEGORICAL_COLUMNS",
    "INJECTABLE_COLUMNS",
    "NUMERIC_COLUMNS",
    "SampleConfig",
    "SampleSummary",
    "generate",
    "parse_knobs",
    "write_sample_warehouse",
]
