"""AWS commands of the ``stepml`` CLI (asl, and later start/status --cloud/resume/logs)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the AWS commands to ``app``."""
