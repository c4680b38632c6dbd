"""Credentials never reach the terminal or a log: no local variables in tracebacks, secrets redacted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stepml.core.redact import redact

ROOT = Path(__file__).resolve().parents[2]
KEY_ID = "AKIAZZSECRETKEYID123"
SECRET = "wJalrXUtnFEMIsecretKEYvalue0123456789xyz"
TOKEN = "IQoJb3JpZ2luX2VjSESSIONTOKENsecret0987654321"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"


def test_redact_removes_keys_tokens_headers_and_webhooks() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN, "HOME": "/home/me"}
    text = (
        f"key {KEY_ID} secret={SECRET} token {TOKEN} "
        "headers {'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIAZZ/2026 Signature=abcdef0123'} "
        f"url https://b.s3.amazonaws.com/k?X-Amz-Security-Token={TOKEN[:10]}&X-Amz-Signature=deadbeef "
        f"hook {HOOK} home /home/me"
    )
    out = redact(text, env)
    for secret in (KEY_ID, SECRET, TOKEN, TOKEN[:10], "abcdef0123", "deadbeef", "XXXXXXXXXXXXXXXX"):
        assert secret not in out, out
    assert "/home/me" in out  # ordinary values stay


def _spec(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    text = (ROOT / "pipeline.yaml").read_text().replace("artifact_root: ./.stepml", "artifact_root: s3://nobucket/x")
    (tmp_path / "pipeline.yaml").write_text(text)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "warehouse.duckdb").write_bytes(b"")
    return tmp_path / "pipeline.yaml"


@pytest.mark.parametrize("args", [["run"], ["status"]])
def test_unreachable_s3_is_a_short_named_error_without_secrets(tmp_path: Path, args: list[str]) -> None:
    spec = _spec(tmp_path)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_MAX_ATTEMPTS": "1",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "stepml.cli", *args, "--spec", str(spec)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret not in out
    assert "locals" not in out.lower()
    assert "StoreError" in out and "127.0.0.1:1" in out, out
    assert len(out) < 2_000, out


def test_an_unexpected_error_prints_no_locals_and_no_secrets(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from stepml import cli

    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)

    def boom(*a, **k):
        session_token = TOKEN  # noqa: F841 - a local a traceback with locals would print
        raise RuntimeError(f"signed with {TOKEN}")

    monkeypatch.setattr(cli, "app", type("A", (), {"__call__": staticmethod(boom)})())
    with pytest.raises(SystemExit) as exc:
        cli.main(["status"])
    assert exc.value.code == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert TOKEN not in text and "session_token =" not in text and "locals" not in text.lower()
    assert "RuntimeError" in text
