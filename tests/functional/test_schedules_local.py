"""Several schedules in one pipeline, run locally: train weekly, score daily with the champion (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest

from stepml.cli.local import scheduled_run
from stepml.errors import StepmlError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from stepml.store import open_store
from tests.conftest import stepml_cli

pytestmark = pytest.mark.slow


def _weekly_and_daily(raw: dict[str, Any]) -> None:
    # the reference steps, and a daily score with the registered champion beside the gated one
    raw["steps"]["score_daily"] = {
        "type": "score",
        "needs": ["extract_score"],
        "model": "job-matching@champion",
        "partitions": 1,
    }
    raw["schedules"] = {
        "weekly": {"cron": "0 2 * * mon", "timezone": "Asia/Tokyo", "steps": ["gate"], "params": {"as_of": "run_date"}},
        "daily": {
            "cron": "0 3 * * *",
            "timezone": "Asia/Tokyo",
            "steps": ["score_daily"],
            "params": {"as_of": "run_date - 1 day", "score_days": 1},
        },
    }


def test_train_weekly_and_score_daily_with_the_champion(make_pipeline) -> None:
    spec = make_pipeline(_weekly_and_daily)
    pipeline = load_spec(spec)
    store = open_store(str(pipeline.base_dir / ".stepml"))
    runner = LocalRunner(pipeline, store)

    def run(schedule: str, at: str) -> dict[str, str]:
        r = scheduled_run(pipeline, schedule, at, {}, runner.clock())
        record = runner.run(r.params, targets=r.targets, run_date=r.run_date)
        return {s.name: s.status for s in record.steps}

    # Given no champion yet, the daily schedule cannot score (named, before anything runs)
    with pytest.raises(StepmlError, match="job-matching@champion does not exist yet"):
        run("daily", "2026-05-01T18:00:00Z")
    # When the weekly schedule runs (Monday April 27, 02:00 in Tokyo): it trains and gates, nothing else
    assert run("weekly", "2026-04-26T17:00:00Z") == dict.fromkeys(["extract_train", "train", "gate"], "ran")
    # Then the daily schedule scores May 1 with the champion, training nothing
    assert run("daily", "2026-05-01T18:00:00Z") == {"extract_score": "ran", "score_daily": "ran"}
    # and the next day scores the next day; the command line runs the same schedule the same way (cached)
    assert run("daily", "2026-05-02T18:00:00Z") == {"extract_score": "ran", "score_daily": "ran"}
    out = stepml_cli(spec, "run", "--schedule", "daily", "--at", "2026-05-02T18:00:00Z", "--root", str(store.root))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "schedule daily, run date 2026-05-03" in out.stdout and "2 steps" in out.stdout
    assert "cached" in out.stdout and "ran" not in out.stdout.replace("run date", "")
    # and an unknown schedule is a parameter error naming the schedules
    bad = stepml_cli(spec, "run", "--schedule", "hourly")
    assert bad.returncode == 2 and "unknown schedule 'hourly'" in bad.stdout + bad.stderr
