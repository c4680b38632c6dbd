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
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "CATEGORICAL_COLUMNS",
    "INJECTABLE_COLUMNS",
    "NUMERIC_COLUMNS",
    "SampleConfig",
    "SampleSummary",
    "parse_knobs",
    "write_sample_warehouse",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# ----------------------------------------------------------------------------------------------------------
# Vocabularies and their probabilities (the reference distribution of every categorical column).

REGIONS: tuple[str, ...] = (
    "tokyo",
    "kanagawa",
    "osaka",
    "nagoya",
    "fukuoka",
    "sapporo",
    "sendai",
    "other_japan",
    "overseas",
)
_REGION_P = (0.34, 0.12, 0.13, 0.07, 0.06, 0.04, 0.03, 0.12, 0.09)
_REGION_EFFECT = (0.15, 0.10, 0.05, 0.0, 0.0, -0.05, -0.10, -0.15, -0.35)

CATEGORIES: tuple[str, ...] = (
    "backend",
    "frontend",
    "data",
    "mobile",
    "infra",
    "design",
    "qa",
    "pm",
    "marketing",
)
_CATEGORY_P = (0.24, 0.16, 0.12, 0.10, 0.10, 0.10, 0.07, 0.06, 0.05)
_CATEGORY_EFFECT = (0.15, 0.05, 0.35, 0.10, 0.0, -0.15, -0.20, -0.10, -0.40)
_CATEGORY_RATE_PREMIUM = (400.0, 200.0, 700.0, 300.0, 500.0, 0.0, -300.0, 600.0, -200.0)

COMPANY_SIZES: tuple[str, ...] = ("1-10", "11-50", "51-200", "201-1000", "1000+")
_COMPANY_SIZE_P = (0.15, 0.30, 0.25, 0.18, 0.12)
_COMPANY_SIZE_EFFECT = (-0.25, -0.05, 0.05, 0.10, 0.25)

_REQUIRED_EXPERIENCE = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0)
_REQUIRED_EXPERIENCE_P = (0.08, 0.15, 0.20, 0.22, 0.20, 0.10, 0.05)

_P_LIVES_ABROAD_OVERSEAS = 0.92
_P_LIVES_ABROAD_DOMESTIC = 0.01
_P_REMOTE = 0.45

_BASE_LOGIT = 0.25  # tuned so that the acceptance rate is about 30%
_JOB_WINDOW_DAYS = 14  # an invitation goes to a job posted at most this many days before it
_CHUNK = 1_000_000  # invitations per chunk when computing the ground truth (bounds memory)
_SECONDS_PER_DAY = 86_400

# ----------------------------------------------------------------------------------------------------------
# Injectable columns: the feature columns that the scoring SQL outputs, with their table and kind.

_Table = Literal["candidates", "job_posts"]
_Kind = Literal["numeric", "integer", "categorical", "boolean"]

_COLUMNS: dict[str, tuple[_Table, _Kind]] = {
    "region": ("candidates", "categorical"),
    "years_experience": ("candidates", "numeric"),
    "skill_score": ("candidates", "numeric"),
    "desired_hourly_rate": ("candidates", "numeric"),
    "lives_abroad": ("candidates", "boolean"),
    "last_active_days": ("candidates", "integer"),
    "category": ("job_posts", "categorical"),
    "hourly_rate_min": ("job_posts", "numeric"),
    "hourly_rate_max": ("job_posts", "numeric"),
    "required_experience": ("job_posts", "numeric"),
    "remote": ("job_posts", "boolean"),
    "company_size": ("job_posts", "categorical"),
}

INJECTABLE_COLUMNS: frozenset[str] = frozenset(_COLUMNS)
NUMERIC_COLUMNS: frozenset[str] = frozenset(c for c, (_, k) in _COLUMNS.items() if k in ("numeric", "integer"))
CATEGORICAL_COLUMNS: frozenset[str] = INJECTABLE_COLUMNS - NUMERIC_COLUMNS

# Categorical drift moves rows to one fixed category per column: the least common one of the reference
# distribution (for booleans, the minority value, i.e. True for both lives_abroad and remote).
_CATEGORICAL_VOCAB: dict[str, tuple[Any, ...]] = {
    "region": REGIONS,
    "category": CATEGORIES,
    "company_size": COMPANY_SIZES,
    "lives_abroad": (False, True),
    "remote": (False, True),
}
DRIFT_TARGETS: dict[str, Any] = {
    "region": REGIONS[int(np.argmin(_REGION_P))],
    "category": CATEGORIES[int(np.argmin(_CATEGORY_P))],
    "company_size": COMPANY_SIZES[int(np.argmin(_COMPANY_SIZE_P))],
    "lives_abroad": True,
    "remote": True,
}


# ----------------------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class SampleConfig:
    """What to generate. Invalid values raise ``ValueError`` at construction."""

    rows: int = 200_000  # invitations in the history period [as_of - history_days, as_of)
    score_rows: int = 100_000  # invitations in the scoring period [as_of, as_of + score_days)
    seed: int = 7
    as_of: date = date(2026, 5, 1)
    history_days: int = 180
    score_days: int = 30
    # column -> fraction of the scoring period's invitations whose value of that column is NULL
    missing: Mapping[str, float] = field(default_factory=dict)
    # column -> shift, scoring period only: numeric = shift in reference std units (values are then clipped at
    # 0, every numeric column being a non-negative quantity); categorical/boolean = share of the scoring
    # period's invitations moved to the column's drift target (see DRIFT_TARGETS)
    drift: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _validate(self)
        if problems:
            raise ValueError("invalid sample config: " + "; ".join(problems))


@dataclass(frozen=True)
class SampleSummary:
    path: Path
    tables: dict[str, int]  # table -> row count


def parse_knobs(items: Sequence[str], *, what: str) -> dict[str, float]:
    """Parse ``["col=0.2", ...]`` (e.g. repeated ``--missing`` options) into ``{"col": 0.2}``.

    Raises ``ValueError`` naming the bad item: no ``=``, a column that is not injectable, a value that is not
    a finite number, or a column given twice. Ranges are checked by :class:`SampleConfig`.
    """
    knobs: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            raise ValueError(f"{what}: expected COLUMN=VALUE (e.g. skill_score=0.2), got {item!r}")
        if name not in INJECTABLE_COLUMNS:
            raise ValueError(f"{what}: unknown column {name!r} in {item!r}; {_allowed()}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{what}: value {raw!r} in {item!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{what}: value {raw!r} in {item!r} is not a finite number")
        if name in knobs:
            raise ValueError(f"{what}: column {name!r} is given more than once ({item!r})")
        knobs[name] = value
    return knobs


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
# Validation


def _allowed() -> str:
    return "allowed columns: " + ", ".join(sorted(INJECTABLE_COLUMNS))


def _validate(config: SampleConfig) -> list[str]:
    problems: list[str] = []
    for name in ("rows", "score_rows", "seed", "history_days", "score_days"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{name} must be an integer, got {value!r}")
    if problems:
        return problems
    if config.rows < 1:
        problems.append(f"rows must be >= 1, got {config.rows}")
    if config.score_rows < 0:
        problems.append(f"score_rows must be >= 0, got {config.score_rows}")
    if config.seed < 0:
        problems.append(f"seed must be >= 0, got {config.seed}")
    if config.history_days < 1:
        problems.append(f"history_days must be >= 1, got {config.history_days}")
    if config.score_days < 1:
        problems.append(f"score_days must be >= 1, got {config.score_days}")
    if not isinstance(config.as_of, date):
        problems.append(f"as_of must be a date, got {config.as_of!r}")
    for knob, values in (("missing", config.missing), ("drift", config.drift)):
        for col, value in values.items():
            if col not in INJECTABLE_COLUMNS:
                problems.append(f"{knob}: unknown column {col!r}; {_allowed()}")
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                problems.append(f"{knob}: {col} must be a finite number, got {value!r}")
                continue
            fraction = knob == "missing" or col in CATEGORICAL_COLUMNS
            if fraction and not 0.0 <= value <= 1.0:
                what = "a NULL fraction" if knob == "missing" else "a share of rows (categorical column)"
                problems.append(f"{knob}: {col}={value} must be in [0, 1] ({what})")
    return problems


# ----------------------------------------------------------------------------------------------------------
# Generation


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent, named random stream: adding a stream never shifts the draws of another."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _n_candidates(invitations: int) -> int:
    return max(200, invitations // 10)


def _n_jobs(invitations: int, days: int) -> int:
    return max(50, 2 * days, invitations // 40)  # >= one job posted per day of the period


@dataclass
class _Period:
    name: str
    start: date
    days: int
    n_invitations: int
    first_candidate_id: int
    first_job_id: int
    first_invitation_id: int
    signup_extra_days: int


def _choice(rng: np.random.Generator, probs: Sequence[float], n: int) -> npt.NDArray[np.int8]:
    """Category codes drawn with ``probs`` (vectorized inverse CDF)."""
    cdf = np.cumsum(np.asarray(probs, dtype=np.float64))
    cdf /= cdf[-1]
    codes = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(codes, len(probs) - 1).astype(np.int8)


def _round_to(values: FloatArray, step: float) -> FloatArray:
    return np.round(values / step) * step


@dataclass
class _Candidates:
    ids: IntArray
    region: npt.NDArray[np.int8]
    years_experience: FloatArray
    skill_score: FloatArray
    desired_hourly_rate: FloatArray
    lives_abroad: BoolArray
    last_active_days: npt.NDArray[np.int32]
    signup_date: npt.NDArray[np.datetime64]
    nulls: dict[str, BoolArray] = field(default_factory=dict)

    def to_arrow(self) -> Any:
        import pyarrow as pa

        return pa.table(
            {
                "candidate_id": pa.array(self.ids, pa.int64()),
                "region": _arrow_codes(self.region, REGIONS, self.nulls.get("region")),
                "years_experience": _arrow(self.years_experience, self.nulls.get("years_experience")),
                "skill_score": _arrow(self.skill_score, self.nulls.get("skill_score")),
                "desired_hourly_rate": _arrow(self.desired_hourly_rate, self.nulls.get("desired_hourly_rate")),
                "lives_abroad": _arrow(self.lives_abroad, self.nulls.get("lives_abroad")),
                "last_active_days": _arrow(self.last_active_days, self.nulls.get("last_active_days")),
                "signup_date": pa.array(self.signup_date, pa.date32()),
            }
        )


@dataclass
class _Jobs:
    ids: IntArray
    category: npt.NDArray[np.int8]
    hourly_rate_min: FloatArray
    hourly_rate_max: FloatArray
    required_experience: FloatArray
    remote: BoolArray
    company_size: npt.NDArray[np.int8]
    posted_day: IntArray  # days since the period start, sorted ascending
    posted_at: npt.NDArray[np.datetime64]
    nulls: dict[str, BoolArray] = field(default_factory=dict)

    def to_arrow(self) -> Any:
        import pyarrow as pa

        return pa.table(
            {
                "job_id": pa.array(self.ids, pa.int64()),
                "category": _arrow_codes(self.category, CATEGORIES, self.nulls.get("category")),
                "hourly_rate_min": _arrow(self.hourly_rate_min, self.nulls.get("hourly_rate_min")),
                "hourly_rate_max": _arrow(self.hourly_rate_max, self.nulls.get("hourly_rate_max")),
                "required_experience": _arrow(self.required_experience, self.nulls.get("required_experience")),
                "remote": _arrow(self.remote, self.nulls.get("remote")),
                "company_size": _arrow_codes(self.company_size, COMPANY_SIZES, self.nulls.get("company_size")),
                "posted_at": pa.array(self.posted_at, pa.date32()),
            }
        )


@dataclass
class _Invitations:
    cand_idx: IntArray  # index into the period's candidates
    job_idx: IntArray  # index into the period's jobs
    sent_seconds: IntArray  # seconds since the period start, sorted ascending
    candidate_ids: IntArray
    job_ids: IntArray
    accepted: BoolArray | None = None

    def to_arrow(self, period: _Period) -> Any:
        import pyarrow as pa

        n = len(self.sent_seconds)
        start = np.datetime64(period.start, "s")
        sent_at = (start + self.sent_seconds.astype("timedelta64[s]")).astype("datetime64[us]")
        accepted = self.accepted if self.accepted is not None else np.zeros(n, dtype=np.bool_)
        return pa.table(
            {
                "invitation_id": pa.array(
                    np.arange(period.first_invitation_id, period.first_invitation_id + n, dtype=np.int64)
                ),
                "candidate_id": pa.array(self.candidate_ids, pa.int64()),
                "job_id": pa.array(self.job_ids, pa.int64()),
                "sent_at": pa.array(sent_at, pa.timestamp("us")),
                "accepted": pa.array(accepted, pa.bool_()),
            }
        )


def _candidates(seed: int, period: _Period, n: int) -> _Candidates:
    rng = _rng(seed, f"{period.name}:candidates")
    region = _choice(rng, _REGION_P, n)
    overseas = region == REGIONS.index("overseas")
    lives_abroad = rng.random(n) < np.where(overseas, _P_LIVES_ABROAD_OVERSEAS, _P_LIVES_ABROAD_DOMESTIC)
    years = np.clip(_round_to(rng.gamma(2.0, 3.2, n), 0.5), 0.0, 40.0)
    skill = np.clip(np.round(rng.beta(5.0, 3.0, n) * 100.0, 1), 0.0, 100.0)
    desired = 1500.0 + 220.0 * years + 25.0 * (skill - 50.0) + rng.normal(0.0, 700.0, n)
    desired = _round_to(np.maximum(desired, 1000.0), 100.0)
    last_active = np.minimum(np.floor(rng.exponential(20.0, n)), 365).astype(np.int32)
    # signed up before the period starts (0..~4 years earlier); the scoring cohort spreads later sign-ups
    offset = np.floor(rng.exponential(400.0, n)).astype(np.int64) + 1
    offset = np.minimum(offset, 3000)
    if period.signup_extra_days:
        offset = offset + rng.integers(0, period.signup_extra_days + 1, n)
    signup = np.datetime64(period.start, "D") - offset.astype("timedelta64[D]")
    ids = np.arange(period.first_candidate_id, period.first_candidate_id + n, dtype=np.int64)
    return _Candidates(
        ids=ids,
        region=region,
        years_experience=years,
        skill_score=skill,
        desired_hourly_rate=desired,
        lives_abroad=lives_abroad,
        last_active_days=last_active,
        signup_date=signup,
    )


def _jobs(seed: int, period: _Period, n: int) -> _Jobs:
    rng = _rng(seed, f"{period.name}:jobs")
    category = _choice(rng, _CATEGORY_P, n)
    required = np.asarray(_REQUIRED_EXPERIENCE, dtype=np.float64)[_choice(rng, _REQUIRED_EXPERIENCE_P, n)]
    premium = np.asarray(_CATEGORY_RATE_PREMIUM)[category]
    rate_min = 1800.0 + 250.0 * required + premium + rng.normal(0.0, 500.0, n)
    rate_min = _round_to(np.maximum(rate_min, 1000.0), 100.0)
    rate_max = rate_min + _round_to(rng.uniform(500.0, 4000.0, n), 100.0)
    remote = rng.random(n) < _P_REMOTE
    company_size = _choice(rng, _COMPANY_SIZE_P, n)
    # posting days spread evenly over the period (every day has at least one post), in id order
    posted_day = (np.arange(n, dtype=np.int64) * period.days) // n
    posted_at = np.datetime64(period.start, "D") + posted_day.astype("timedelta64[D]")
    ids = np.arange(period.first_job_id, period.first_job_id + n, dtype=np.int64)
    return _Jobs(
        ids=ids,
        category=category,
        hourly_rate_min=rate_min,
        hourly_rate_max=rate_max,
        required_experience=required,
        remote=remote,
        company_size=company_size,
        posted_day=posted_day,
        posted_at=posted_at,
    )


def _invitations(seed: int, period: _Period, cands: _Candidates, jobs: _Jobs) -> _Invitations:
    rng = _rng(seed, f"{period.name}:invitations")
    n = period.n_invitations
    sent = np.sort(rng.integers(0, period.days * _SECONDS_PER_DAY, n, dtype=np.int64))
    cand_idx = rng.integers(0, len(cands.ids), n, dtype=np.int64)
    # a job posted on the invitation's day or up to _JOB_WINDOW_DAYS - 1 days before it
    day = sent // _SECONDS_PER_DAY
    lo = np.searchsorted(jobs.posted_day, day - (_JOB_WINDOW_DAYS - 1), side="left")
    hi = np.searchsorted(jobs.posted_day, day, side="right")
    del day
    job_idx = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
    del lo, hi
    return _Invitations(
        cand_idx=cand_idx,
        job_idx=job_idx,
        sent_seconds=sent,
        candidate_ids=cands.ids[cand_idx],
        job_ids=jobs.ids[job_idx],
    )


def _ground_truth(seed: int, period: _Period, cands: _Candidates, jobs: _Jobs, inv: _Invitations) -> BoolArray:
    """Draw ``accepted`` from the logistic ground truth, chunk by chunk to bound memory."""
    rng = _rng(seed, f"{period.name}:accepted")
    n = len(inv.cand_idx)
    region_effect = np.asarray(_REGION_EFFECT)
    category_effect = np.asarray(_CATEGORY_EFFECT)
    size_effect = np.asarray(_COMPANY_SIZE_EFFECT)
    out = np.empty(n, dtype=np.bool_)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        c = inv.cand_idx[lo:hi]
        j = inv.job_idx[lo:hi]
        rate_gap = jobs.hourly_rate_max[j] - cands.desired_hourly_rate[c]
        exp_gap = np.abs(cands.years_experience[c] - jobs.required_experience[j])
        remote = jobs.remote[j]
        z = (
            _BASE_LOGIT
            + 1.4 * np.tanh((rate_gap - 1000.0) / 2000.0)
            - 0.30 * np.minimum(exp_gap, 8.0)
            + 0.03 * (cands.skill_score[c] - 62.5)
            + 0.6 * remote
            - 0.45 * np.log1p(cands.last_active_days[c].astype(np.float64))
            - 1.2 * (cands.lives_abroad[c] & ~remote)
            + region_effect[cands.region[c]]
            + category_effect[jobs.category[j]]
            + size_effect[jobs.company_size[j]]
            + rng.normal(0.0, 0.5, hi - lo)
        )
        out[lo:hi] = rng.random(hi - lo) < 1.0 / (1.0 + np.exp(-z))
    return out


# ----------------------------------------------------------------------------------------------------------
# Knobs (scoring cohort only)


def _entity(column: str, cands: _Candidates, jobs: _Jobs, inv: _Invitations) -> tuple[_Candidates | _Jobs, IntArray]:
    """The scoring entity table holding ``column`` and the invitations' index into it."""
    table, _ = _COLUMNS[column]
    if table == "candidates":
        return cands, inv.cand_idx
    return jobs, inv.job_idx


def _pick_by_share(rng: np.random.Generator, eligible: IntArray, weights: IntArray, target: float) -> IntArray:
    """Entities from ``eligible`` in random order until their invitation count is closest to ``target``."""
    if target <= 0 or len(eligible) == 0:
        return eligible[:0]
    order = eligible[rng.permutation(len(eligible))]
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, target, side="left"))  # cum[k] >= target
    if k >= len(order):
        return order
    below = cum[k - 1] if k > 0 else 0
    take = k if target - below <= cum[k] - target else k + 1
    return order[:take]


def _apply_drift(
    config: SampleConfig,
    hist_cands: _Candidates,
    hist_jobs: _Jobs,
    cands: _Candidates,
    jobs: _Jobs,
    inv: _Invitations,
) -> None:
    n_inv = len(inv.cand_idx)
    for column in sorted(config.drift):
        shift = float(config.drift[column])
        entity, idx = _entity(column, cands, jobs, inv)
        values = getattr(entity, column)
        kind = _COLUMNS[column][1]
        if kind in ("numeric", "integer"):
            reference = _entity(column, hist_cands, hist_jobs, inv)[0]
            std = float(np.std(getattr(reference, column).astype(np.float64)))
            delta = shift * std
            if kind == "integer":
                new = np.maximum(values + round(delta), 0).astype(values.dtype)
            else:
                new = np.maximum(values + delta, 0.0)
            setattr(entity, column, new)
            continue
        if shift <= 0:
            continue
        vocab = _CATEGORICAL_VOCAB[column]
        target = vocab.index(DRIFT_TARGETS[column])
        codes = values.astype(np.int64)
        eligible = np.flatnonzero(codes != target).astype(np.int64)
        weights = np.bincount(idx, minlength=len(codes)).astype(np.int64)
        moved = _pick_by_share(_rng(config.seed, f"drift:{column}"), eligible, weights, shift * n_inv)
        new_values = values.copy()
        new_values[moved] = True if kind == "boolean" else target
        setattr(entity, column, new_values)


def _apply_missing(config: SampleConfig, cands: _Candidates, jobs: _Jobs, inv: _Invitations) -> None:
    n_inv = len(inv.cand_idx)
    for column in sorted(config.missing):
        fraction = float(config.missing[column])
        entity, idx = _entity(column, cands, jobs, inv)
        n = len(entity.ids)
        weights = np.bincount(idx, minlength=n).astype(np.int64)
        eligible = np.arange(n, dtype=np.int64)
        picked = _pick_by_share(_rng(config.seed, f"missing:{column}"), eligible, weights, fraction * n_inv)
        mask = np.zeros(n, dtype=np.bool_)
        mask[picked] = True
        entity.nulls[column] = mask


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


def _arrow(values: npt.NDArray[Any], mask: BoolArray | None) -> Any:
    import pyarrow as pa

    return pa.array(values, mask=mask) if mask is not None and mask.any() else pa.array(values)


def _arrow_codes(codes: npt.NDArray[np.int8], vocab: Sequence[str], mask: BoolArray | None) -> Any:
    import pyarrow as pa

    indices = pa.array(codes, mask=mask) if mask is not None and mask.any() else pa.array(codes)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(vocab), pa.string())).cast(pa.string())


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
