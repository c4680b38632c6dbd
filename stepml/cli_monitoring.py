"""Monitoring commands of the ``stepml`` CLI (alarms, report) and what a run prints about monitoring."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from stepml.runner import RunRecord
    from stepml.spec import Pipeline
    from stepml.store import Store


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``."""


def after_run(record: RunRecord, pipeline: Pipeline, store: Store, console: Console) -> None:
    """Print what the run means for monitoring (alarm states) below the run summary."""
