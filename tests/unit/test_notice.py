"""The run summary people read (stepml.core.notice): one builder, the chat integration's format, no secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepml.core.notice import CHAT_SOURCE, CHAT_VERSION, record_notice, run_notice
from stepml.core.runs import RunRecord, StepOutcome

KEY = "AKIAABCDEFGHIJKLMNOP"
HOOK = "https://hooks.slack.com/services/T000/B000/abcdefSECRET"


def _record(status: str = "failed", error: str | None = "boom") -> RunRecord:
    steps = [
        StepOutcome("extract_train", "extract", "k1", status="cached"),
        StepOutcome("extract_score", "extract", "k2", status="ran", duration_s=62.0),
        StepOutcome("train", "train", "k3", status="failed", duration_s=9.0, error=error, error_type="StepInputError"),
        StepOutcome("gate", "gate", "k4", status="skipped"),
    ]
    return RunRecord("20260501T030000-1a2b", "job-matching", {}, "/tmp/x", 0.0, 603.0, status, steps)


def test_a_notice_says_cached_ran_failed_and_not_run_with_times_and_the_error() -> None:
    notice = record_notice(_record(), link="/tmp/x/job-matching/runs/20260501T030000-1a2b.json")
    text = notice.text()
    assert "===== stepml run summary: job-matching =====" in text
    assert "run 20260501T030000-1a2b FAILED after 10m 3s" in text
    assert "* 1 cached: extract_train" in text
    assert "* 1 ran: extract_score (1m 2s)" in text
    assert "* 1 failed: train (9s) - StepInputError: boom" in text
    assert "* 1 not run: gate" in text
    assert "This run looks :(" in text and "record: /tmp/x/job-matching/runs/" in text
    assert notice.subject == "stepml job-matching: FAILED" and notice.failed


def test_a_succeeded_run_looks_happy() -> None:
    steps = [StepOutcome("a", "extract", "k", status="ran", duration_s=1.0)]
    record = RunRecord("r1", "p", {}, "/tmp", 0.0, 1.0, "succeeded", steps)
    notice = record_notice(record)
    assert notice.status == "SUCCEEDED" and not notice.failed and ":)" in notice.text()


def test_the_chat_event_follows_the_custom_notification_schema() -> None:
    """Amazon Q Developer in chat applications (formerly AWS Chatbot) delivers only custom notifications in its
    event format: ``version`` must be ``1.0``, ``source`` must be ``custom``; ``content.textType`` is optional and
    only ``client-markdown`` is supported; ``title`` and ``description`` carry the text; ``nextSteps`` and
    ``keywords`` are lists of strings; ``metadata`` holds ``threadId``, ``summary``, ``eventType``,
    ``additionalContext`` (string values).
    https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html (Event schema, Parameter details)
    """
    event = record_notice(_record(), link="https://us-east-1.console.aws.amazon.com/states/x").chat()
    assert event["version"] == CHAT_VERSION == "1.0" and event["source"] == CHAT_SOURCE == "custom"
    assert set(event) <= {"version", "source", "id", "content", "metadata"}
    content = event["content"]
    assert set(content) <= {"textType", "title", "description", "nextSteps", "keywords"}
    assert content["textType"] == "client-markdown"
    assert "job-matching" in content["title"] and "FAILED" in content["title"]
    assert "* 1 failed: train (9s) - StepInputError: boom" in content["description"]
    assert all(isinstance(s, str) for s in [*content["nextSteps"], *content["keywords"]])
    assert "console.aws.amazon.com" in content["nextSteps"][0]
    metadata = event["metadata"]
    assert set(metadata) <= {"threadId", "summary", "eventType", "relatedResources", "additionalContext"}
    assert all(isinstance(v, str) for v in metadata["additionalContext"].values())
    json.dumps(event)  # serializable as is


def test_one_sns_publish_serves_the_chat_integration_and_email() -> None:
    """With ``MessageStructure=json`` the message must be a JSON object with a top-level ``default`` string; other
    top-level keys name a protocol (``email``) that gets its own text.
    https://docs.aws.amazon.com/sns/latest/api/API_Publish.html (MessageStructure)
    """
    notice = record_notice(_record())
    message = json.loads(notice.sns_message())
    assert isinstance(message["default"], str) and isinstance(message["email"], str)
    assert json.loads(message["default"]) == notice.chat()
    assert message["email"] == notice.text()


@pytest.mark.parametrize("secret", [KEY, HOOK])
def test_no_rendering_carries_a_secret_from_an_error(secret: str) -> None:
    notice = record_notice(_record(error=f"could not reach {secret}"))
    for rendered in (notice.text(), json.dumps(notice.chat()), json.dumps(notice.webhook()), notice.sns_message()):
        assert secret not in rendered and "***" in rendered


def test_the_lambda_and_the_local_runner_render_the_same_steps_alike() -> None:
    """The cloud summary (notify Lambda, from the execution history) and the local one use one builder: the same
    steps in give the same lines out."""
    from stepml.cloud.handlers.notify import StepReport

    record = _record()
    reports: list[Any] = []
    for s in record.steps:
        r = StepReport(s.name, "not run" if s.status == "skipped" else s.status)
        r.error = f"{s.error_type}: {s.error}" if s.error else ""
        reports.append(r)
    reports[1].started, reports[1].ended = _at(0), _at(62)
    reports[2].started, reports[2].ended = _at(0), _at(9)
    cloud = run_notice("job-matching", record.run_id, "FAILED", 603.0, reports)
    assert cloud.lines() == record_notice(record).lines()


def _at(seconds: int) -> Any:
    import datetime as dt

    return dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
