"""``stepml run`` posts its summary to a webhook (gokart's Slack message): a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import stepml_cli

ENV = "STEPML_TEST_WEBHOOK"
SECRET_PATH = "/webhook/T0AAA/B0BBB/s3cr3tT0k3n"


class Hook:
    def __init__(self, status: int) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.headers.append(dict(self.headers))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Callable[[int], Hook]]:
    made: list[Hook] = []

    def make(status: int = 200) -> Hook:
        made.append(Hook(status))
        return made[-1]

    yield make
    for h in made:
        h.close()


def _extracts_only(raw: dict[str, Any]) -> None:
    raw["steps"] = {k: v for k, v in raw["steps"].items() if k in ("extract_train", "extract_score")}
    raw["alarms"] = []  # they watch the check step's metrics
    raw["notifications"] = {"webhook_env": ENV}


def test_the_run_summary_reaches_the_webhook_named_in_the_spec(
    make_pipeline: Callable[..., Path], hook: Callable[[int], Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spec whose notifications.webhook_env names a variable holding the URL
    server = hook(200)
    spec = make_pipeline(_extracts_only)
    monkeypatch.setenv(ENV, server.url)
    # When the pipeline runs
    done = stepml_cli(spec, "run")
    # Then the run succeeds and the webhook got the summary as Slack's {"text": ...} JSON
    assert done.returncode == 0, done.stderr
    (body,) = server.bodies
    assert set(body) == {"text"}
    text = body["text"]
    assert "===== stepml run summary: job-matching =====" in text
    assert "* 2 ran: extract_train (" in text and "extract_score (" in text
    assert "SUCCEEDED" in text and "This run looks :)" in text and "record: " in text
    assert server.headers[0]["Content-Type"] == "application/json"
    # and the URL - a secret - appears in no output
    assert SECRET_PATH not in done.stdout + done.stderr and "s3cr3tT0k3n" not in done.stdout + done.stderr
    assert "run summary sent" in done.stdout
    # When it runs again, everything is cached, and the summary says so
    again = stepml_cli(spec, "run")
    assert again.returncode == 0 and "* 2 cached: extract_train, extract_score" in server.bodies[1]["text"]


def test_a_failed_run_posts_its_error_and_still_fails(
    make_pipeline: Callable[..., Path], hook: Callable[[int], Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = hook(200)

    def too_few_rows(raw: dict[str, Any]) -> None:
        _extracts_only(raw)
        raw["steps"]["extract_score"]["min_rows"] = 10**9

    spec = make_pipeline(too_few_rows)
    monkeypatch.setenv(ENV, server.url)
    done = stepml_cli(spec, "run")
    assert done.returncode == 1
    (body,) = server.bodies
    assert "FAILED" in body["text"] and "* 1 failed: extract_score (" in body["text"]
    assert "StepInputError" in body["text"] and "This run looks :(" in body["text"]


@pytest.mark.parametrize("status", [500, None])  # None: nothing listens on the port
def test_a_webhook_that_fails_is_a_warning_never_the_runs_outcome(
    make_pipeline: Callable[..., Path], hook: Callable[[int], Hook], status: int | None
) -> None:
    if status is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}{SECRET_PATH}"
    else:
        url = hook(status).url
    spec = make_pipeline(_extracts_only)
    # --notify URL on the command line (the spec's variable is not set here)
    done = stepml_cli(spec, "run", "--notify", url)
    assert done.returncode == 0, done.stderr
    assert "run summary not sent" in done.stdout
    assert "run summary not sent to the webhook" in done.stderr  # the logged warning
    assert "HTTP 500" in done.stderr if status else "Connection refused" in done.stderr or "URLError" in done.stderr
    assert "s3cr3tT0k3n" not in done.stdout + done.stderr
