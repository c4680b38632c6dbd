"""A run's summary as people read it: one function for both executors, three renderings.

:func:`run_notice` turns a run's steps (cached / ran / failed / not run, durations, the failing step's error) into a
:class:`Notice`; the local runner builds it from its run record, the notify Lambda from the execution history.
A notice renders as

- :meth:`Notice.text`: gokart's Slack message, for e-mail and the terminal::

      ===== stepml run summary: job-matching =====
      run 20260501T030000-1a2b FAILED after 14m 3s
      * 2 cached: extract_train, train
      * 1 ran: extract_score (1m 2s)
      * 1 failed: score (12m 0s) - StepExecutionError: ...
      * 1 not run: check
      This run looks :( because there were failed steps
      console: https://...

- :meth:`Notice.chat`: the custom-notification event AWS's chat integration (Amazon Q Developer in chat
  applications, formerly AWS Chatbot) delivers to Slack - it drops SNS messages in any other format;
- :meth:`Notice.webhook`: the body of a Slack incoming webhook (``{"text": ...}``).

Every rendering passes through :func:`stepml.core.redact.redact`. Standard library only (the Lambdas use it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stepml.core.redact import redact

CHAT_VERSION = "1.0"  # the custom-notification schema: "version" must be "1.0" and "source" must be "custom"
CHAT_SOURCE = "custom"
CHAT_TEXT_TYPE = "client-markdown"  # the only textType the integration renders
GROUPS = ("cached", "ran", "failed", "not run")
_NOT_RUN = {"skipped", "pending", "running", "not run"}
ERROR_CHARS = 500


class StepLike(Protocol):
    """What a notice needs of a step: the local runner's ``StepOutcome`` and the Lambda's ``StepReport`` fit."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def duration_s(self) -> float | None: ...


@dataclass(frozen=True)
class StepLine:
    name: str
    group: str  # one of GROUPS
    duration_s: float | None
    error: str = ""


@dataclass(frozen=True)
class Notice:
    pipeline: str
    run: str  # the run id or execution name
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED (the Step Functions words; local runs map onto them)
    duration_s: float | None
    steps: list[StepLine] = field(default_factory=list)
    link: str | None = None  # the console page of the execution, or where a local run's record is

    @property
    def failed(self) -> bool:
        return self.status != "SUCCEEDED" or any(s.group == "failed" for s in self.steps)

    @property
    def subject(self) -> str:
        """SNS subjects are at most 100 characters."""
        return f"stepml {self.pipeline}: {self.status}"[:100]

    def lines(self) -> list[str]:
        """The body: one line per status group, then the verdict."""
        out = [f"run {self.run} {self.status} after {fmt_duration(self.duration_s)}"]
        for group in GROUPS:
            members = [s for s in self.steps if s.group == group]
            if not members:
                continue
            shown = []
            for s in members:
                text = s.name if group in ("cached", "not run") else f"{s.name} ({fmt_duration(s.duration_s)})"
                shown.append(text + (f" - {s.error}" if s.error else ""))
            out.append(f"* {len(members)} {group}: " + ", ".join(shown))
        verdict = ":(" if self.failed else ":)"
        out.append(f"This run looks {verdict} because there were {'failed' if self.failed else 'no failed'} steps")
        return out

    def text(self) -> str:
        body = [f"===== stepml run summary: {self.pipeline} =====", *self.lines()]
        if self.link:
            body.append(f"console: {self.link}" if self.link.startswith("https://") else f"record: {self.link}")
        return redact("\n".join(body))

    def chat(self) -> dict[str, Any]:
        """The custom-notification event of Amazon Q Developer in chat applications (schema version 1.0)."""
        icon = ":x:" if self.failed else ":white_check_mark:"
        content: dict[str, Any] = {
            "textType": CHAT_TEXT_TYPE,
            "title": redact(f"{icon} stepml {self.pipeline}: {self.status}"),
            "description": redact("\n".join(self.lines())),
            "keywords": [self.pipeline, self.status],
        }
        if self.link:
            step = f"<{self.link}|Open the run>" if self.link.startswith("https://") else f"Record: {self.link}"
            content["nextSteps"] = [redact(step)]
        return {
            "version": CHAT_VERSION,
            "source": CHAT_SOURCE,
            "id": f"stepml-{self.pipeline}-{self.run}",
            "content": content,
            "metadata": {
                "summary": redact(f"stepml {self.pipeline} {self.status}"),
                "eventType": f"stepml-run-{self.status.lower()}",
                "threadId": f"stepml-{self.pipeline}",
                "additionalContext": {"pipeline": self.pipeline, "run": self.run, "status": self.status},
            },
        }

    def webhook(self) -> dict[str, Any]:
        """A Slack incoming webhook's body (``{"text": ...}``): the same text e-mail gets."""
        return {"text": self.text()}

    def sns_message(self) -> str:
        """One SNS publish for every subscriber (``MessageStructure="json"``): the chat integration (an HTTPS
        subscription) and queues get the custom-notification event as ``default``, e-mail gets the text."""
        return json.dumps({"default": json.dumps(self.chat()), "email": self.text()})


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m}m {s}s" if h else (f"{m}m {s}s" if m else f"{s}s")


def run_notice(
    pipeline: str,
    run: str,
    status: str,
    duration_s: float | None,
    steps: Sequence[StepLike],
    *,
    link: str | None = None,
) -> Notice:
    """The notice of a run whose steps are ``steps`` (any status vocabulary of stepml's: the run record's
    ``skipped``/``pending``/``running`` count as not run, except that a step still ``running`` when the run
    ended failed)."""
    lines = []
    for s in steps:
        group = s.status if s.status in ("cached", "ran", "failed") else "not run"
        error = redact(str(s.error or "")[:ERROR_CHARS])
        lines.append(StepLine(s.name, group, s.duration_s, error))
    return Notice(pipeline, run, status, duration_s, lines, link)


_RUN_TO_STATUS = {"succeeded": "SUCCEEDED", "failed": "FAILED", "died": "ABORTED", "running": "RUNNING"}


@dataclass
class _Step:
    name: str
    status: str
    error: str | None
    duration_s: float | None


def record_notice(record: Any, *, link: str | None = None) -> Notice:
    """The notice of a run record (``stepml.core.runs.RunRecord``)."""
    steps = [
        _Step(s.name, s.status, f"{s.error_type}: {s.error}" if s.error and s.error_type else s.error, s.duration_s)
        for s in record.steps
    ]
    return run_notice(
        record.pipeline,
        record.run_id,
        _RUN_TO_STATUS.get(record.status, record.status.upper()),
        record.duration_s,
        steps,
        link=link,
    )
