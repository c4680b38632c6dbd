"""A finished run's summary posted to a webhook (gokart's Slack message): ``stepml run --notify URL``, or the URL
in the environment variable the spec's ``notifications.webhook_env`` names.

The URL is a secret (a Slack incoming webhook's path is its credential): it is read from the environment, never
written in the spec, never printed, and redacted from every message here. Posting is best effort: a timeout, a
refused connection or an HTTP error is a warning and never changes the run's outcome.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepml.core.notice import record_notice
from stepml.core.redact import MASK, redact

if TYPE_CHECKING:
    from stepml.core.runs import RunRecord
    from stepml.spec.pipeline import Pipeline

_log = logging.getLogger("stepml.notify")
TIMEOUT_S = 10.0


def webhook_url(pipeline: Pipeline, given: str | None, env: Mapping[str, str]) -> str | None:
    """``--notify URL`` if given, else the value of the spec's ``notifications.webhook_env`` variable, if set."""
    if given:
        return given
    name = pipeline.spec.notifications.webhook_env
    return (env.get(name) or None) if name else None


def post(url: str, payload: Mapping[str, Any], *, timeout: float = TIMEOUT_S) -> bool:
    """POST ``payload`` as JSON; False (and a warning that never shows the URL) when it does not arrive."""
    if not url.startswith(("https://", "http://")):
        _log.warning("run summary not sent: the webhook URL is not http(s)")
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "stepml"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # the scheme is checked above
            response.read()
        return True
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    _log.warning("run summary not sent to the webhook: %s", redact(problem.replace(url, MASK)))
    return False


def notify_run(record: RunRecord, url: str, *, link: str | None = None, timeout: float = TIMEOUT_S) -> bool:
    """Post ``record``'s summary (:mod:`stepml.core.notice`, the same the notify Lambda sends) to ``url``."""
    return post(url, record_notice(record, link=link).webhook(), timeout=timeout)
