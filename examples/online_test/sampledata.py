"""The job-matching sample warehouse plus what a served recommendation list produces: ``exposures`` (one row per
item shown to a candidate: experiment, variant, team, position, time) and ``outcomes`` (the exposures that led to an
application), with a **known true effect**: each variant's application probability is the control's times
``1 + lift[variant]``. Units are assigned exactly as the serve step assigns them (``stepml.experiments.assign``),
so the read-out's split and lift can be checked against the truth; ``contamination`` units also see another
variant (multiple exposure), ``drop`` removes that share of a variant's units (a broken split the SRM test catches).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from examples.job_matching.sampledata import generate as generate_warehouse
from stepml.experiments.assign import assign


def exposures(
    units: np.ndarray[Any, Any],
    items: np.ndarray[Any, Any],
    *,
    settings: Mapping[str, Any],
    coverage: float = 1.0,
    lift: Mapping[str, float] | None = None,
    base_rate: float = 0.08,
    spread: float = 0.3,
    sessions: float = 3.0,
    top_k: int = 5,
    start: str = "2026-05-01",
    days: int = 14,
    contamination: float = 0.0,
    drop: Mapping[str, float] | None = None,
    seed: int = 11,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(exposures, outcomes) for the candidates ``units`` of one experiment (``settings``: its settings record)."""
    rng = np.random.default_rng(seed)
    lift = dict(lift or {})
    drop = dict(drop or {})
    found = [a for a in assign(units, settings, coverage) if a.in_experiment]
    variants = list(settings["weights"])
    unit = np.array([int(a.unit) for a in found], dtype=np.int64)
    variant = np.array([a.variant for a in found], dtype=object)
    keep = np.ones(len(found), dtype=bool)
    for name, share in drop.items():
        mine = variant == name
        keep &= ~(mine & (rng.random(len(found)) < share))
    unit, variant = unit[keep], variant[keep]
    extra = rng.random(len(unit)) < contamination  # these units also see another variant once
    other = np.array([variants[(variants.index(v) + 1) % len(variants)] for v in variant[extra]], dtype=object)
    unit = np.concatenate([unit, unit[extra]])
    variant = np.concatenate([variant, other])
    n_sessions = 1 + rng.poisson(sessions - 1, len(unit)) if sessions > 1 else np.ones(len(unit), dtype=np.int64)
    n_sessions[len(n_sessions) - int(extra.sum()) :] = 1
    # per-unit heterogeneity: base_rate times a gamma factor of mean 1 and coefficient of variation ``spread``
    propensity = base_rate * rng.gamma(1.0 / spread**2, spread**2, len(unit))
    rows = np.repeat(np.arange(len(unit)), n_sessions * top_k)
    position = np.tile(np.arange(1, top_k + 1), int(n_sessions.sum()))
    multiplier = np.array([1.0 + lift.get(v, 0.0) for v in variant])
    p = np.clip(propensity[rows] * multiplier[rows] * (1.3 - 0.1 * position), 0, 1)
    applied = rng.random(len(rows)) < p
    t0 = datetime.fromisoformat(start)
    seconds = rng.integers(0, days * 86400, len(rows))
    exposed_at = pd.to_datetime(t0) + pd.to_timedelta(seconds, unit="s")
    frame = pd.DataFrame(
        {
            "exposure_id": np.arange(1, len(rows) + 1, dtype=np.int64),
            "experiment": str(settings["experiment"]),
            "candidate_id": unit[rows],
            "variant": variant[rows].astype(str),
            "job_id": rng.choice(items, len(rows)),
            "position": position.astype(np.int32),
            "exposed_at": exposed_at,
        }
    )
    delay = pd.to_timedelta(rng.integers(60, 3 * 86400, int(applied.sum())), unit="s")
    outcomes = pd.DataFrame(
        {"exposure_id": frame["exposure_id"].to_numpy()[applied], "applied_at": frame["exposed_at"][applied] + delay}
    )
    return frame, outcomes


def generate(
    path: Path,
    *,
    rows: int = 200_000,
    score_rows: int = 100_000,
    seed: int = 7,
    experiment: Mapping[str, Any] | None = None,
) -> Any:
    """The job-matching warehouse, then ``exposures``/``outcomes`` for ``experiment``: {settings: the experiment's
    settings record (as ``stepml.spec.experiments.settings`` gives it), coverage, lift: {variant: relative lift},
    start, days, contamination, drop}."""
    import duckdb

    summary = generate_warehouse(path, rows=rows, score_rows=score_rows, seed=seed)
    if not experiment:
        return summary
    options = dict(experiment)
    settings = options.pop("settings")
    con = duckdb.connect(str(path))
    try:
        start = str(options.get("start", "2026-05-01"))
        end = (datetime.fromisoformat(start) + timedelta(days=int(options.get("days", 14)))).date().isoformat()
        units = con.execute(
            "SELECT DISTINCT candidate_id FROM invitations WHERE sent_at >= CAST(? AS TIMESTAMP) "
            "AND sent_at < CAST(? AS TIMESTAMP) ORDER BY 1",
            [start, end],
        ).fetchnumpy()["candidate_id"]
        items = con.execute("SELECT job_id FROM job_posts ORDER BY 1").fetchnumpy()["job_id"]
        frame, outcomes = exposures(units, items, settings=settings, seed=seed, **options)
        con.register("exposures_df", frame)
        con.register("outcomes_df", outcomes)
        con.execute("CREATE OR REPLACE TABLE exposures AS SELECT * FROM exposures_df")
        con.execute("CREATE OR REPLACE TABLE outcomes AS SELECT * FROM outcomes_df")
    finally:
        con.close()
    return summary
