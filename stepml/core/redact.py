"""Secrets out of anything stepml prints or logs: AWS keys, session tokens, signatures, Authorization headers,
webhook URLs, and the values of secret-looking environment variables. Standard library only (the Lambdas use it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

MASK = "***"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|WEBHOOK|AUTH|SESSION)", re.IGNORECASE)
_MIN_SECRET = 8  # shorter values ("t" in tests, "1") would blank out ordinary text
_PATTERNS = (
    re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b"),  # AWS access key ids
    # Authorization headers and their AWS SigV4 parts, quoted or not
    re.compile(r"(?i)(?<=authorization)(['\"]?\s*[:=]\s*['\"]?)[^'\"\n]+"),
    re.compile(r"(?i)(?<=X-Amz-Security-Token)([=:]\s*['\"]?)[^&\s'\"]+"),
    re.compile(r"(?i)(?<=X-Amz-Signature)([=:]\s*['\"]?)[^&\s'\"]+"),
    re.compile(r"(?i)(?<=X-Amz-Credential)([=:]\s*['\"]?)[^&\s'\"]+"),
    re.compile(r"(?i)(?<=Signature=)[0-9a-f]+"),
    re.compile(r"(?i)(?<=aws_session_token)(['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"),
    re.compile(r"(?i)(?<=aws_secret_access_key)(['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"),
    # webhook URLs carry their secret in the path
    re.compile(r"https?://(?:hooks\.slack\.com|[\w.-]*webhook[\w.-]*|discord(?:app)?\.com/api/webhooks)/\S+"),
    re.compile(r"https?://\S*/webhooks?/\S+"),
)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret, longest first."""
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET}
    return sorted(values, key=len, reverse=True)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret it holds replaced by ``***``."""
    for value in secret_values(env):
        text = text.replace(value, MASK)
    for rx in _PATTERNS:
        text = rx.sub(lambda m: (m.group(1) if m.re.groups else "") + MASK, text)
    return text
