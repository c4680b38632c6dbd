"""What the command line's modules share: the consoles, the common options, how a run is printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stepml.core.plan import PlannedStep
from stepml.core.redact import redact
from stepml.core.runs import RunRecord, StepOutcome
from stepml.local.runner import Events

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

SpecOpt = Annotated[
    Path,
    typer.Option(
        "--spec",
        "-f",
        "--pipeline",
        help="Pipeline spec file, or the name of one of the project's pipelines (stepml.yaml, pipelines/*.yaml).",
    ),
]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="Run parameter key=value (repeatable).")]
RootOpt = Annotated[str | None, typer.Option("--root", help="Artifact root (path or s3://...); overrides the spec.")]

_STYLE = {"ran": "green", "cached": "cyan", "failed": "bold red", "skipped": "yellow", "pending": "dim"}


def params(items: list[str] | None) -> dict[str, Any]:
    from stepml.core.params import parse_assignments

    return dict(parse_assignments(items or []))


class ConsoleEvents(Events):
    def step_started(self, step: PlannedStep) -> None:
        console.print(f"[bold]▶ {step.name}[/] [dim]({step.type}, key {step.key})[/]")

    def step_waiting(self, step: PlannedStep, holder: dict[str, Any] | None) -> None:
        who = f"run {holder.get('run_id')} pid {holder.get('pid')}" if holder else "another run"
        console.print(f"[yellow]… {step.name}[/] is being computed by {who}; waiting")

    def step_finished(self, outcome: StepOutcome) -> None:
        style = _STYLE.get(outcome.status, "")
        line = f"[{style}]{'✔' if outcome.status in {'ran', 'cached'} else '✘'} {outcome.name}[/] {outcome.status}"
        if outcome.status == "ran":
            line += f" in {outcome.duration_s:.1f}s"
        if outcome.detail:
            line += f" [dim]- {escape(outcome.detail)}[/]"
        if outcome.error:
            line += f"\n    [red]{outcome.error_type}: {escape(redact(outcome.error))}[/]"
        console.print(line, soft_wrap=True)

    def message(self, text: str) -> None:
        console.print(f"[dim]{escape(redact(text))}[/]")


def render_run(record: RunRecord, *, outputs: bool = False) -> None:
    """The run tree as a table; with ``outputs`` also where each step's files are."""
    table = Table(title=f"{record.pipeline} · run {record.run_id}", title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("key", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for s in record.steps:
        style = _STYLE.get(s.status, "")
        table.add_row(
            s.name,
            f"[{style}]{s.status}[/]",
            f"{s.duration_s:.1f}s" if s.status in {"ran", "failed"} else "-",
            f"{s.rows:,}" if s.rows is not None else "-",
            s.key[:12],
            (f"[red]{s.error_type}: {escape(redact(s.error))}[/]" if s.error else escape(s.detail)),
        )
    console.print(table)
    if outputs:
        for s in record.steps:
            if s.output:
                console.print(f"  [dim]{s.name}:[/] {s.output}", overflow="fold")
    parts = ", ".join(f"{v} {k}" for k, v in record.counts().items() if v)
    colour = "green" if record.status == "succeeded" else "red"
    shown = " ".join(f"{k}={v}" for k, v in sorted(record.params.items()))
    console.print(f"[{colour}]run {record.status}[/] in {record.duration_s:.2f}s ({parts}) · {shown}")
