"""The check type's commands (``stepml alarms``, ``stepml report``) and what a run prints about monitoring.

Imports stay lazy: ``after_run`` runs after every run, cached ones included, and reads JSON only (the metric
history and alarm definitions) - no pandas, pyarrow, Great Expectations or evidently.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from monitoring.alarms import AlarmState
    from stepml.core.runs import RunRecord
    from stepml.spec import Pipeline
    from stepml.store.objects import Store

_STATE_STYLE = {"OK": "green", "ALARM": "bold red", "INSUFFICIENT_DATA": "yellow"}

SpecOpt = Annotated[Path, typer.Option("--spec", "-f", "--pipeline", help="Pipeline spec file, or a pipeline's name.")]
RootOpt = Annotated[str | None, typer.Option("--root", help="Artifact root (path or s3://...); overrides the spec.")]
RunArg = Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run id or prefix; default: the latest.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="HTML file; default ./stepml-report-<run>.html")]
EvidentlyOpt = Annotated[bool, typer.Option(help="Also render evidently's drift report (a linked page).")]


def alarm_states(pipeline: Pipeline, store: Store, now: float | None = None) -> list[AlarmState]:
    from monitoring.alarms import evaluate_alarms
    from monitoring.metrics import load_history

    history = load_history(store, pipeline.name)
    return evaluate_alarms(pipeline.spec.alarms, history, pipeline=pipeline.name, now=now)


def _styled(state: str) -> str:
    return f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]"


def alarms_cmd(spec: SpecOpt = Path("pipeline.yaml"), root: RootOpt = None) -> None:
    """Evaluate the spec's alarms over the local metric history; show each state and its datapoints."""
    from rich.table import Table

    from stepml.app import open_project
    from stepml.cli.common import console

    pipeline, store = open_project(spec, root)
    states = alarm_states(pipeline, store)
    if not states:
        console.print("no alarms are declared in the spec")
        return
    table = Table(title=f"alarms · {pipeline.name}", title_justify="left")
    for col in ("alarm", "state", "condition", "missing data", "datapoints (oldest first)", "reason"):
        table.add_column(col, overflow="fold")
    for s in states:
        points = ", ".join(
            "-" if p.value is None else (f"[red]{p.value:.4g}[/]" if p.breaching else f"{p.value:.4g}")
            for p in s.datapoints
        )
        table.add_row(s.name, _styled(s.state), s.condition, s.treat_missing_data, points or "-", s.reason)
    console.print(table)


def report_cmd(
    run_id: RunArg = None,
    spec: SpecOpt = Path("pipeline.yaml"),
    root: RootOpt = None,
    out: OutOpt = None,
    evidently: EvidentlyOpt = True,
) -> None:
    """Write a static HTML page for a run: steps, checks, drift per feature with plots, alarms."""
    from stepml.app import open_project
    from stepml.cli.common import console

    pipeline, store = open_project(spec, root)
    path = write_report(pipeline, store, run_id, out, evidently=evidently)
    console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``: ``stepml alarms`` and ``stepml report [RUN]``."""
    app.command("alarms")(alarms_cmd)
    app.command("report")(report_cmd)


def write_report(
    pipeline: Pipeline, store: Store, run_id: str | None, out: Path | None, *, evidently: bool = True
) -> Path:
    import json

    from monitoring.report import render_report
    from stepml.core import manifest as mf
    from stepml.core.layout import join
    from stepml.errors import StepmlError
    from stepml.local.runner import load_run

    record = load_run(store, pipeline.name, run_id)
    if record is None:
        raise StepmlError(f"no runs yet under {store.root}")
    out = out or Path(f"stepml-report-{record.run_id}.html")
    check: dict[str, Any] | None = None
    prefix: str | None = None
    readouts: list[dict[str, Any]] = []
    for s in record.steps:
        if s.type == "readout" and s.status in {"ran", "cached"}:
            m = mf.read_manifest(store, pipeline.name, s.name, s.key)
            if m is not None:
                readouts.append(json.loads(store.read_bytes(join(m["prefix"], "readout.json"))))
        if s.type == "check" and s.status in {"ran", "cached"}:
            m = mf.read_manifest(store, pipeline.name, s.name, s.key)
            if m is not None:
                prefix = m["prefix"]
                check = json.loads(store.read_bytes(join(prefix, "report.json")))
    href = None
    if evidently and check is not None and prefix is not None and check.get("drift"):
        href = _evidently(store, prefix, out)
    states = [a.to_dict() for a in alarm_states(pipeline, store)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        render_report(run=record.to_json(), check=check, alarms=states, evidently_href=href, readouts=readouts)
    )
    return out


def _evidently(store: Store, prefix: str, out: Path) -> str | None:
    """Render evidently's report from the check's bounded sample; None when there is no sample."""
    import json
    import tempfile

    from stepml.core.layout import join

    keys = {k.rsplit("/", 1)[-1]: k for k in store.list(prefix)}
    if "sample.parquet" not in keys or "reference_profile.json" not in keys:
        return None
    import pandas as pd

    from monitoring.evidently_report import REFERENCE_SAMPLE_FILE, render

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "sample.parquet"
        store.get_file(join(prefix, "sample.parquet"), local)
        sample = pd.read_parquet(local)
        rows = None  # real training rows when the check kept them, else a sample drawn from the profile
        if REFERENCE_SAMPLE_FILE in keys:
            store.get_file(keys[REFERENCE_SAMPLE_FILE], Path(tmp) / REFERENCE_SAMPLE_FILE)
            rows = pd.read_parquet(Path(tmp) / REFERENCE_SAMPLE_FILE)
    reference = json.loads(store.read_bytes(join(prefix, "reference_profile.json")))
    target = out.with_name(out.stem + ".evidently.html")
    render(reference, sample, target, sample_rows=len(sample), reference_rows=rows)
    return target.name


def after_run(record: RunRecord, pipeline: Pipeline, store: Store, console: Console) -> None:
    """Print what the run means for monitoring (alarm states) below the run summary."""
    if not pipeline.spec.alarms:
        return
    states = alarm_states(pipeline, store)
    parts = [f"{s.name} {_styled(s.state)}" for s in states]
    console.print("alarms: " + " · ".join(parts))
    for s in states:
        if s.state == "ALARM":
            console.print(f"  [bold red]ALARM[/] {s.name}: {s.condition} - {s.reason}")
