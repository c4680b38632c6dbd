"""Generating the sample tables: entities, invitations, the ground truth, and the scoring-cohort knobs."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from examples.job_matching.sampledata.config import (
    _BASE_LOGIT,
    _CATEGORICAL_VOCAB,
    _CATEGORY_EFFECT,
    _CATEGORY_P,
    _CATEGORY_RATE_PREMIUM,
    _CHUNK,
    _COLUMNS,
    _COMPANY_SIZE_EFFECT,
    _COMPANY_SIZE_P,
    _JOB_WINDOW_DAYS,
    _P_LIVES_ABROAD_DOMESTIC,
    _P_LIVES_ABROAD_OVERSEAS,
    _P_REMOTE,
    _REGION_EFFECT,
    _REGION_P,
    _REQUIRED_EXPERIENCE,
    _REQUIRED_EXPERIENCE_P,
    _SECONDS_PER_DAY,
    CATEGORIES,
    COMPANY_SIZES,
    DRIFT_TARGETS,
    REGIONS,
    BoolArray,
    FloatArray,
    IntArray,
    SampleConfig,
)

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


def _arrow(values: npt.NDArray[Any], mask: BoolArray | None) -> Any:
    import pyarrow as pa

    return pa.array(values, mask=mask) if mask is not None and mask.any() else pa.array(values)


def _arrow_codes(codes: npt.NDArray[np.int8], vocab: Sequence[str], mask: BoolArray | None) -> Any:
    import pyarrow as pa

    indices = pa.array(codes, mask=mask) if mask is not None and mask.any() else pa.array(codes)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(vocab), pa.string())).cast(pa.string())
