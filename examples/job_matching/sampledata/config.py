"""What the sample warehouse holds: vocabularies, injectable columns, the config and its validation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

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
