"""The sample warehouse generator and the reference pipeline's extract SQL."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import duckdb
import pytest

from examples.job_matching import sampledata
from examples.job_matching.sampledata import (
    INJECTABLE_COLUMNS,
    SampleConfig,
    parse_knobs,
    write_sample_warehouse,
)
from examples.job_matching.sampledata.config import DRIFT_TARGETS
from steps.extract.sqlrender import placeholders, render

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 5, 1)
SMALL = {"rows": 5000, "score_rows": 5000}
TABLES = ("candidates", "job_posts", "invitations")

FEATURES = [
    "invitation_id",
    "candidate_id",
    "job_id",
    "sent_at",
    "region",
    "years_experience",
    "skill_score",
    "desired_hourly_rate",
    "lives_abroad",
    "last_active_days",
    "category",
    "hourly_rate_min",
    "hourly_rate_max",
    "required_experience",
    "remote",
    "company_size",
    "rate_gap",
    "experience_gap",
    "tenure_days",
]

# invitations joined with their candidate and job, tagged with their period
JOINED = """
SELECT i.*, c.* EXCLUDE (candidate_id), j.* EXCLUDE (job_id),
       CASE WHEN i.sent_at < TIMESTAMP '2026-05-01' THEN 'history' ELSE 'scoring' END AS period
FROM invitations i JOIN candidates c USING (candidate_id) JOIN job_posts j USING (job_id)
"""


def _generate(path: Path, **kwargs: Any) -> Path:
    write_sample_warehouse(path, SampleConfig(**{**SMALL, **kwargs}))
    return path


def _digest(path: Path) -> dict[str, str]:
    """A hash over every table's rows in id order."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            table: hashlib.sha256(
                repr(con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()).encode()
            ).hexdigest()
            for table in TABLES
        }


def _period_digest(path: Path, period: str) -> str:
    """A hash over one period's invitations joined with their candidate and job, in id order."""
    sql = f"SELECT * FROM ({JOINED}) WHERE period = '{period}' ORDER BY invitation_id"
    return hashlib.sha256(repr(_query(path, sql)).encode()).hexdigest()


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _scalar(path: Path, sql: str) -> Any:
    return _query(path, sql)[0][0]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("wh") / "base.duckdb")


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path, baseline: Path) -> None:
    again = _generate(tmp_path / "again.duckdb")
    other = _generate(tmp_path / "other.duckdb", seed=8)
    assert _digest(again) == _digest(baseline)
    theirs = _digest(other)
    assert all(theirs[t] != h for t, h in _digest(baseline).items())


def test_row_counts_and_windows(tmp_path: Path) -> None:
    summary = write_sample_warehouse(tmp_path / "a" / "b" / "wh.duckdb", SampleConfig(rows=3000, score_rows=1200))
    path = summary.path
    assert path.exists()
    assert summary.tables == {t: _scalar(path, f"SELECT count(*) FROM {t}") for t in TABLES}
    assert summary.tables["invitations"] == 4200
    per_period = dict(_query(path, f"SELECT period, count(*) FROM ({JOINED}) GROUP BY 1"))
    assert per_period == {"history": 3000, "scoring": 1200}
    lo, hi = _query(path, "SELECT min(sent_at), max(sent_at) FROM invitations")[0]
    assert lo >= dt.datetime(2025, 11, 2) and hi < dt.datetime(2026, 5, 31)  # as_of - 180 d, as_of + 30 d
    # ids are unique and follow time; every invitation joins; nothing happens before sign-up or posting
    assert _scalar(path, "SELECT count(DISTINCT invitation_id) FROM invitations") == 4200
    assert _scalar(path, f"SELECT count(*) FROM ({JOINED})") == 4200
    unordered = """SELECT count(*) FROM (SELECT sent_at < lag(sent_at) OVER (ORDER BY invitation_id) AS back
                   FROM invitations) WHERE back"""
    assert _scalar(path, unordered) == 0
    assert _scalar(path, f"SELECT count(*) FROM ({JOINED}) WHERE signup_date > sent_at::DATE") == 0
    assert _scalar(path, f"SELECT count(*) FROM ({JOINED}) WHERE posted_at > sent_at::DATE") == 0
    # the scoring period has its own cohort: job posts inside the window, candidates unseen in history
    scoring_posts = _query(path, f"SELECT min(posted_at), max(posted_at) FROM ({JOINED}) WHERE period = 'scoring'")
    assert scoring_posts[0][0] >= AS_OF and scoring_posts[0][1] < dt.date(2026, 5, 31)
    shared = f"""SELECT count(*) FROM (SELECT candidate_id FROM ({JOINED}) WHERE period = 'history'
                 INTERSECT SELECT candidate_id FROM ({JOINED}) WHERE period = 'scoring')"""
    assert _scalar(path, shared) == 0
    # the knobs' default leaves no NULL anywhere
    nulls = f"SELECT count(*) FROM ({JOINED}) WHERE " + " OR ".join(f"{c} IS NULL" for c in INJECTABLE_COLUMNS)
    assert _scalar(path, nulls) == 0


def test_missing_knob_only_touches_scoring_rows(tmp_path: Path, baseline: Path) -> None:
    knobs = {"skill_score": 0.2, "category": 0.35, "remote": 1.0}
    path = _generate(tmp_path / "missing.duckdb", missing=knobs)
    for column, fraction in knobs.items():
        share = f"SELECT avg(({column} IS NULL)::INT) FROM ({JOINED}) WHERE period = '{{}}'"
        assert _scalar(path, share.format("scoring")) == pytest.approx(fraction, abs=0.02), column
        assert _scalar(path, share.format("history")) == 0
    assert _period_digest(path, "history") == _period_digest(baseline, "history")
    # other columns of the scoring rows are untouched too
    same = "SELECT list(years_experience ORDER BY invitation_id) FROM ({}) WHERE period = 'scoring'"
    assert _scalar(path, same.format(JOINED)) == _scalar(baseline, same.format(JOINED))


def test_numeric_drift_shifts_scoring_mean_by_std_units(tmp_path: Path, baseline: Path) -> None:
    path = _generate(tmp_path / "drift.duckdb", drift={"skill_score": 1.0, "last_active_days": 0.5})
    # reference std: the history cohort (candidate ids below the scoring cohort's)
    history_std = """SELECT stddev_pop({c}) FROM candidates WHERE candidate_id <
                     (SELECT min(candidate_id) FROM invitations WHERE sent_at >= TIMESTAMP '2026-05-01')"""
    mean = "SELECT avg({c}) FROM (" + JOINED + ") WHERE period = '{p}'"
    for column, shift in (("skill_score", 1.0), ("last_active_days", 0.5)):
        std = _scalar(baseline, history_std.format(c=column))
        moved = _scalar(path, mean.format(c=column, p="scoring")) - _scalar(
            baseline, mean.format(c=column, p="scoring")
        )
        assert moved == pytest.approx(shift * std, rel=0.1), column
        hist = mean.format(c=column, p="history")
        assert _scalar(path, hist) == _scalar(baseline, hist)
    assert _period_digest(path, "history") == _period_digest(baseline, "history")


def test_categorical_drift_changes_the_mix(tmp_path: Path, baseline: Path) -> None:
    path = _generate(tmp_path / "drift.duckdb", drift={"region": 0.3, "remote": 0.2})
    target = DRIFT_TARGETS["region"]
    share = "SELECT avg((" + "{expr})::INT) FROM (" + JOINED + ") WHERE period = '{p}'"
    region = f"region = '{target}'"
    before = _scalar(baseline, share.format(expr=region, p="scoring"))
    after = _scalar(path, share.format(expr=region, p="scoring"))
    assert after - before == pytest.approx(0.3, abs=0.02)
    remote_before = _scalar(baseline, share.format(expr="remote", p="scoring"))
    assert _scalar(path, share.format(expr="remote", p="scoring")) - remote_before == pytest.approx(0.2, abs=0.02)
    for expr in (region, "remote"):
        assert _scalar(path, share.format(expr=expr, p="history")) == _scalar(
            baseline, share.format(expr=expr, p="history")
        )
    assert _period_digest(path, "history") == _period_digest(baseline, "history")


def _extract(path: Path, name: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    sql = render((ROOT / "sql" / name).read_text(), params, dialect="duckdb")
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()


def test_sql_files_run_on_the_sample_warehouse(tmp_path: Path) -> None:
    path = _generate(tmp_path / "wh.duckdb", missing={"lives_abroad": 0.1, "region": 0.1})
    assert sorted(placeholders((ROOT / "sql" / "training_set.sql").read_text())) == ["as_of", "lookback_days"]
    assert sorted(placeholders((ROOT / "sql" / "scoring_set.sql").read_text())) == ["as_of", "score_days"]

    columns, rows = _extract(path, "training_set.sql", {"as_of": AS_OF, "lookback_days": 90})
    assert columns == [*FEATURES, "accepted"]
    in_window = _scalar(
        path,
        "SELECT count(*) FROM invitations WHERE sent_at >= DATE '2026-01-31' AND sent_at < DATE '2026-05-01'",
    )
    assert len(rows) == in_window > 0
    ids = [r[0] for r in rows]
    assert ids == sorted(ids)
    assert all(dt.datetime(2026, 1, 31) <= r[3] < dt.datetime(2026, 5, 1) for r in rows)
    target = [r[-1] for r in rows]
    assert set(target) == {0, 1}
    assert 0.2 <= sum(target) / len(target) <= 0.4
    for r in rows:
        assert r[8] in (0, 1) and r[14] in (0, 1)  # booleans as integers, no NULL in training rows
        assert r[16] == r[12] - r[7] and r[17] == r[5] - r[13] and r[18] >= 0

    columns, rows = _extract(path, "scoring_set.sql", {"as_of": AS_OF, "score_days": 30})
    assert columns == FEATURES
    assert len(rows) == SMALL["score_rows"]
    assert all(AS_OF <= r[3].date() < dt.date(2026, 5, 31) for r in rows)
    assert {r[8] for r in rows} == {0, 1, None}  # injected NULLs survive the cast
    assert sum(r[4] is None for r in rows) / len(rows) == pytest.approx(0.1, abs=0.02)


def test_overwrite_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _generate(tmp_path / "wh.duckdb", rows=500, score_rows=100)
    _generate(path, rows=800, score_rows=100)
    assert _scalar(path, "SELECT count(*) FROM invitations") == 900
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wh.duckdb"]

    def boom(*args: Any) -> None:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(sampledata, "_insert", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        _generate(path, rows=1000, score_rows=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wh.duckdb"]
    assert _scalar(path, "SELECT count(*) FROM invitations") == 900  # the old warehouse is intact


def test_parse_knobs() -> None:
    assert parse_knobs([], what="--missing") == {}
    assert parse_knobs(["skill_score=0.2", " region = 0.5 "], what="--drift") == {
        "skill_score": 0.2,
        "region": 0.5,
    }
    assert parse_knobs(["years_experience=-1.5"], what="--drift") == {"years_experience": -1.5}
    with pytest.raises(ValueError, match=r"--missing: expected COLUMN=VALUE .*'skill_score'"):
        parse_knobs(["skill_score"], what="--missing")
    with pytest.raises(ValueError, match=r"--missing: expected COLUMN=VALUE .*'=0.1'"):
        parse_knobs(["=0.1"], what="--missing")
    with pytest.raises(ValueError, match=r"--drift: value 'abc' in 'region=abc' is not a number"):
        parse_knobs(["region=abc"], what="--drift")
    with pytest.raises(ValueError, match=r"not a finite number"):
        parse_knobs(["region=nan"], what="--drift")
    with pytest.raises(ValueError, match=r"unknown column 'salary' in 'salary=0.1'; allowed columns: .*skill_score"):
        parse_knobs(["salary=0.1"], what="--missing")
    with pytest.raises(ValueError, match=r"'region' is given more than once"):
        parse_knobs(["region=0.1", "region=0.2"], what="--drift")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match=r"missing: unknown column 'salary'; allowed columns: category, company_size"):
        SampleConfig(missing={"salary": 0.1})
    with pytest.raises(ValueError, match=r"drift: unknown column 'accepted'"):
        SampleConfig(drift={"accepted": 0.1})
    with pytest.raises(ValueError, match=r"missing: skill_score=1.5 must be in \[0, 1\]"):
        SampleConfig(missing={"skill_score": 1.5})
    with pytest.raises(ValueError, match=r"drift: region=-0.1 must be in \[0, 1\]"):
        SampleConfig(drift={"region": -0.1})
    with pytest.raises(ValueError, match=r"rows must be >= 1, got 0"):
        SampleConfig(rows=0)
    # a numeric drift is in std units and may be negative or larger than 1
    assert SampleConfig(drift={"skill_score": -2.0}).drift == {"skill_score": -2.0}
    assert set(FEATURES[4:16]) == INJECTABLE_COLUMNS
