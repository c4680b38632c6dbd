"""``stepml`` command line: run, status, explain, plan, sample-data.

This module is the adapter for people: it reads the environment and arguments, builds the store (and, for an
``s3://`` root, the boto3 client), calls the runner, prints progress and a summary, and maps the error tree to
exit codes (2: bad spec or parameters; 1: a step or the run failed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stepml import cli_cloud, cli_monitoring
from stepml.errors import RunError, SpecError, StepmlError
from stepml.plan import Plan, PlannedStep
from stepml.runner import Events, RunRecord, StepOutcome
from stepml.spec import DEFAULT_SPEC, Pipeline, load_spec
from stepml.store import Store

app = typer.Typer(add_completion=False, no_args_is_help=True, help="One declared ML pipeline, run locally or on AWS.")
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

SpecOpt = Annotated[Path, typer.Option("--spec", "-f", help="Pipeline spec file.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="Run parameter key=value (repeatable).")]
RootOpt = Annotated[str | None, typer.Option("--root", help="Artifact root (path or s3://...); overrides the spec.")]

_STYLE = {"ran": "green", "cached": "cyan", "failed": "bold red", "skipped": "yellow", "pending": "dim"}


def make_store(root: str) -> Store:
    """The artifact store for ``root``; builds an S3 client (honouring AWS_ENDPOINT_URL) for s3:// roots."""
    from stepml.store import open_store

    if root.startswith("s3://"):
        import boto3

        return open_store(root, s3_client=boto3.client("s3"))
    return open_store(root)


def _open(spec: Path, root: str | None) -> tuple[Pipeline, Store]:
    pipeline = load_spec(spec)
    configured = root or pipeline.spec.artifact_root
    if not configured.startswith("s3://") and not Path(configured).is_absolute():
        configured = str(pipeline.base_dir / configured)
    return pipeline, make_store(configured)


def _params(items: list[str] | None) -> dict[str, Any]:
    from stepml.params import parse_assignments

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
            line += f" [dim]- {outcome.detail}[/]"
        if outcome.error:
            line += f"\n    [red]{outcome.error_type}: {outcome.error}[/]"
        console.print(line, soft_wrap=True)

    def message(self, text: str) -> None:
        console.print(f"[dim]{text}[/]")


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
            (f"[red]{s.error_type}: {s.error}[/]" if s.error else s.detail),
        )
    console.print(table)
    if outputs:
        for s in record.steps:
            if s.output:
                console.print(f"  [dim]{s.name}:[/] {s.output}", overflow="fold")
    counts = {k: sum(1 for s in record.steps if s.status == k) for k in ("ran", "cached", "failed", "skipped")}
    parts = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    colour = "green" if record.status == "succeeded" else "red"
    params = " ".join(f"{k}={v}" for k, v in sorted(record.params.items()))
    console.print(f"[{colour}]run {record.status}[/] in {record.duration_s:.2f}s ({parts}) · {params}")


def _ensure_warehouse(pipeline: Pipeline) -> None:
    local = pipeline.spec.warehouse.local
    path = pipeline.resolve(local.path)
    if local.sample is None or path.exists():
        return
    from stepml.sampledata import SampleConfig, write_sample_warehouse

    console.print(
        f"[dim]creating the sample warehouse at {path} ({local.sample.rows:,} + "
        f"{local.sample.score_rows:,} invitations, seed {local.sample.seed})[/]"
    )
    write_sample_warehouse(
        path, SampleConfig(rows=local.sample.rows, score_rows=local.sample.score_rows, seed=local.sample.seed)
    )


@app.command()
def run(
    spec: SpecOpt = Path(DEFAULT_SPEC),
    param: ParamOpt = None,
    rerun: Annotated[list[str] | None, typer.Option("--rerun", help="Recompute STEP and all downstream.")] = None,
    step: Annotated[list[str] | None, typer.Option("--step", help="Run only what STEP needs.")] = None,
    root: RootOpt = None,
) -> None:
    """Run the pipeline locally: finished steps are skipped, the rest run under locks."""
    from stepml.runner import LocalRunner

    pipeline, store = _open(spec, root)
    params = _params(param)
    runner = LocalRunner(pipeline, store, events=ConsoleEvents())
    plan = runner.plan(params)  # validates parameters before anything is created
    for name in [*(rerun or []), *(step or [])]:
        plan.step(name)
    _ensure_warehouse(pipeline)
    console.print(f"[bold]{pipeline.name}[/] · root {store.root} · {len(plan.steps)} steps")
    try:
        record = runner.run(params, rerun=set(rerun or []), targets=set(step) if step else None)
    except RunError as exc:
        if exc.record is not None:
            render_run(exc.record)
        raise
    render_run(record)
    cli_monitoring.after_run(record, pipeline, store, console)


@app.command()
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

        from stepml.cli_cloud import cloud_status

        state_machine = os.environ.get("STEPML_STATE_MACHINE_ARN")
        cloud_status(cloud, spec=spec, state_machine=state_machine, stage="dev", as_json=False)
        return
    from stepml.runner import list_runs, load_run

    pipeline, store = _open(spec, root)
    record = load_run(store, pipeline.name, run_id)
    if record is None:
        console.print(f"no runs yet under {store.root}")
        raise typer.Exit(1)
    render_run(record, outputs=True)
    console.print(f"[dim]{len(list_runs(store, pipeline.name))} run(s) recorded[/]")


def _plan_table(plan: Plan, store: Store) -> Table:
    from stepml import manifest as mf

    table = Table(title=f"plan · {plan.pipeline}", title_justify="left")
    for col in ("step", "type", "needs", "key", "cached"):
        table.add_column(col)
    for s in plan.steps:
        hit = mf.read_manifest(store, plan.pipeline, s.name, s.key) is not None
        table.add_row(s.name, s.type, ", ".join(s.needs), s.key, "[cyan]yes[/]" if hit else "no")
    return table


@app.command("plan")
def plan_cmd(spec: SpecOpt = Path(DEFAULT_SPEC), param: ParamOpt = None, root: RootOpt = None) -> None:
    """Print the steps in order with their cache keys and whether each is cached."""
    from stepml.plan import make_plan, plan_input

    pipeline, store = _open(spec, root)
    console.print(_plan_table(make_plan(plan_input(pipeline), _params(param)), store))


@app.command()
def explain(
    step_name: Annotated[str, typer.Argument(metavar="STEP")],
    spec: SpecOpt = Path(DEFAULT_SPEC),
    param: ParamOpt = None,
    root: RootOpt = None,
) -> None:
    """Print a step's key components and why it would hit or miss the cache."""
    from stepml.explain import explain_step

    pipeline, store = _open(spec, root)
    for line in explain_step(pipeline, store, step_name, _params(param)):
        console.print(line, overflow="fold")


@app.command("sample-data")
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
    """Write the deterministic sample warehouse (job matching: candidates, job posts, invitations)."""
    from stepml.sampledata import SampleConfig, parse_knobs, write_sample_warehouse

    defaults = SampleConfig()
    path = out
    if path is None or rows is None or score_rows is None or seed is None:
        pipeline = load_spec(spec) if spec.exists() else None
        local = pipeline.spec.warehouse.local if pipeline else None
        sample = local.sample if local else None
        if path is None:
            path = pipeline.resolve(local.path) if pipeline and local else Path("data/warehouse.duckdb")
        rows = rows if rows is not None else (sample.rows if sample else defaults.rows)
        score_rows = score_rows if score_rows is not None else (sample.score_rows if sample else defaults.score_rows)
        seed = seed if seed is not None else (sample.seed if sample else defaults.seed)
    try:
        config = SampleConfig(
            rows=rows,
            score_rows=score_rows,
            seed=seed,
            missing=parse_knobs(missing or [], what="missing"),
            drift=parse_knobs(drift or [], what="drift"),
        )
        started = time.perf_counter()
        summary = write_sample_warehouse(path, config)
    except ValueError as exc:
        raise StepmlError(f"sample-data: {exc}") from exc
    tables = ", ".join(f"{t} {n:,}" for t, n in summary.tables.items())
    console.print(f"wrote {summary.path} in {time.perf_counter() - started:.1f}s: {tables}")


cli_monitoring.register(app)
cli_cloud.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map stepml's errors to messages and exit codes."""
    try:
        app(args=argv, standalone_mode=False)
    except StepmlError as exc:
        if isinstance(exc, SpecError | RunError):
            err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        else:
            err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
