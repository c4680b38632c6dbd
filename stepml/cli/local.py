"""The local commands: run, status, plan, explain, sample-data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stepml.app import ensure_warehouse, generate_sample, open_project
from stepml.cli.common import ConsoleEvents, ParamOpt, RootOpt, SpecOpt, console, params, render_run
from stepml.core.plan import Plan
from stepml.core.runs import RunRecord
from stepml.errors import RunError, StepmlError
from stepml.spec import DEFAULT_SPEC, load_spec
from stepml.store.objects import Store

if TYPE_CHECKING:
    from stepml.core.schedule import Run
    from stepml.spec.pipeline import Pipeline


def run(
    spec: SpecOpt = Path(DEFAULT_SPEC),
    param: ParamOpt = None,
    rerun: Annotated[list[str] | None, typer.Option("--rerun", help="Recompute STEP and all downstream.")] = None,
    step: Annotated[list[str] | None, typer.Option("--step", help="Run only what STEP needs.")] = None,
    root: RootOpt = None,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Steps run at the same time, at most.")] = 4,
    notify: Annotated[
        str | None,
        typer.Option(
            "--notify",
            metavar="URL",
            help="Post the run summary to this webhook URL (default: the spec's notifications.webhook_env).",
        ),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option("--schedule", help="Run as schedule NAME does: its steps and parameters, its run date."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="The scheduled time (ISO-8601 with a zone) the run's date comes from; default now."),
    ] = None,
) -> None:
    """Run the pipeline locally: finished steps are skipped, the rest run under locks, independent ones at once."""
    import os

    from stepml.local.runner import LocalRunner
    from stepml.webhook import webhook_url

    pipeline, store = open_project(spec, root)
    runner = LocalRunner(pipeline, store, events=ConsoleEvents(), parallel=parallel)
    run_ = scheduled_run(pipeline, schedule, at, params(param), runner.clock())
    targets = set(step) if step else run_.targets
    # validates parameters before anything is created
    plan = runner.plan(run_.params, targets=targets, run_date=run_.run_date)
    for name in [*(rerun or []), *(step or [])]:
        pipeline.plan_input.record(name)
    ensure_warehouse(pipeline, lambda text: console.print(f"[dim]{text}[/]"))
    what = f" · schedule {schedule}, run date {run_.run_date}" if schedule else ""
    console.print(f"[bold]{pipeline.name}[/] · root {store.root}{what} · {len(plan.steps)} steps")
    url = webhook_url(pipeline, notify, os.environ)
    try:
        record = runner.run(run_.params, rerun=set(rerun or []), targets=targets, run_date=run_.run_date)
    except RunError as exc:
        if exc.record is not None:
            render_run(exc.record)
            _notify(exc.record, store, url)
        raise
    render_run(record)
    _notify(record, store, url)
    from stepml.cli.extensions import after_run

    after_run(record, pipeline, store)


def _notify(record: RunRecord, store: Store, url: str | None) -> None:
    """The run summary to the webhook, if one is set; a failure to post is a warning, never the run's outcome."""
    if url is None:
        return
    from stepml.core.layout import run_key
    from stepml.webhook import notify_run

    sent = notify_run(record, url, link=store.uri(run_key(record.pipeline, record.run_id)))
    console.print("[dim]run summary sent to the webhook[/]" if sent else "[yellow]run summary not sent[/]")


def scheduled_run(pipeline: Pipeline, schedule: str | None, at: str | None, given: dict[str, Any], now: float) -> Run:
    """What ``stepml run [--schedule NAME] [--at TIME]`` runs: as the cloud plan reads a schedule's execution input
    (``stepml.core.schedule.run_of``), the command line's parameters over the schedule's."""
    import datetime as dt

    from stepml.core.schedule import run_of

    execution_input: dict[str, Any] = {"params": given}
    if schedule is not None:
        execution_input["schedule"] = schedule
    if at is not None:
        execution_input["scheduled_time"] = at
    return run_of(pipeline.schedules, execution_input, dt.datetime.fromtimestamp(now, dt.UTC))


def status(
    spec: SpecOpt = Path(DEFAULT_SPEC),
    run_id: Annotated[str | None, typer.Option("--run", help="Run id (or a prefix); default: the latest.")] = None,
    root: RootOpt = None,
    cloud: Annotated[
        str | None, typer.Option("--cloud", help="An execution (ARN or name) of the deployed state machine.")
    ] = None,
) -> None:
    """Show a run's tree: each step cached/ran/failed, its duration and output (locally, or of an execution)."""
    if cloud:
        import os

        from stepml.cli.cloud import cloud_status

        state_machine = os.environ.get("STEPML_STATE_MACHINE_ARN")
        cloud_status(cloud, spec=spec, state_machine=state_machine, stage="dev", as_json=False)
        return
    from stepml.local.runner import list_runs, load_run

    pipeline, store = open_project(spec, root)
    record = load_run(store, pipeline.name, run_id)
    if record is None:
        console.print(f"no runs yet under {store.root}")
        raise typer.Exit(1)
    render_run(record, outputs=True)
    console.print(f"[dim]{len(list_runs(store, pipeline.name))} run(s) recorded[/]")


def _plan_table(plan: Plan, store: Store) -> Table:
    from stepml.core import manifest as mf

    table = Table(title=f"plan · {plan.pipeline}", title_justify="left")
    for col in ("step", "type", "needs", "key", "cached"):
        table.add_column(col)
    for s in plan.steps:
        hit = mf.read_manifest(store, plan.pipeline, s.name, s.key) is not None
        table.add_row(s.name, s.type, ", ".join(s.needs), s.key, "[cyan]yes[/]" if hit else "no")
    return table


def plan_cmd(spec: SpecOpt = Path(DEFAULT_SPEC), param: ParamOpt = None, root: RootOpt = None) -> None:
    """Print the steps in order with their cache keys and whether each is cached."""
    from stepml.local.runner import LocalRunner

    pipeline, store = open_project(spec, root)
    ensure_warehouse(pipeline, lambda text: console.print(f"[dim]{text}[/]"))  # its data version is in the keys
    console.print(_plan_table(LocalRunner(pipeline, store).plan(params(param)), store))


def explain(
    step_name: Annotated[str, typer.Argument(metavar="STEP")],
    spec: SpecOpt = Path(DEFAULT_SPEC),
    param: ParamOpt = None,
    root: RootOpt = None,
) -> None:
    """Print a step's key components and why it would hit or miss the cache."""
    from stepml.cli.explain import explain_step

    pipeline, store = open_project(spec, root)
    ensure_warehouse(pipeline, lambda text: console.print(f"[dim]{text}[/]"))
    for line in explain_step(pipeline, store, step_name, params(param)):
        console.print(line, overflow="fold")


def sample_data(
    out: Annotated[Path | None, typer.Option(help="DuckDB file; default: the spec's warehouse path.")] = None,
    spec: SpecOpt = Path(DEFAULT_SPEC),
    rows: Annotated[int | None, typer.Option(help="Invitations in the history (training) period.")] = None,
    score_rows: Annotated[int | None, typer.Option(help="Invitations in the scoring period.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    missing: Annotated[list[str] | None, typer.Option(help="COLUMN=FRACTION of NULLs in the scoring period.")] = None,
    drift: Annotated[
        list[str] | None, typer.Option(help="COLUMN=SHIFT (std units / share moved) when scoring.")
    ] = None,
) -> None:
    """Write the spec's sample warehouse with its generator (``warehouse.local.sample``); options override it."""
    pipeline = load_spec(spec)
    sample = pipeline.spec.warehouse.local.sample
    if sample is None:
        raise StepmlError(f"{spec} names no sample generator (warehouse.local.sample.generator)")
    options = sample.options
    given = {"rows": rows, "score_rows": score_rows, "seed": seed, "missing": missing, "drift": drift}
    options.update({k: v for k, v in given.items() if v is not None})
    path = out or pipeline.resolve(pipeline.spec.warehouse.local.path)
    started = time.perf_counter()
    summary = generate_sample(pipeline, path, options)
    tables = ", ".join(f"{t} {n:,}" for t, n in getattr(summary, "tables", {}).items())
    console.print(f"wrote {path} in {time.perf_counter() - started:.1f}s: {tables}")
