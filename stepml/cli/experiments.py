"""``stepml experiments``: the spec's online tests - their state, a dry run of the split, the assignments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stepml.cli.common import RootOpt, SpecOpt, console
from stepml.spec.models import DEFAULT_SPEC

experiments_app = typer.Typer(no_args_is_help=False, help="Online tests: state, dry run, assignments.")

NameArg = Annotated[str, typer.Argument(metavar="EXPERIMENT", help="The experiment's name in the spec.")]


@experiments_app.callback(invoke_without_command=True)
def list_experiments(ctx: typer.Context, spec: SpecOpt = Path(DEFAULT_SPEC), root: RootOpt = None) -> None:
    """Every experiment of the spec: kind, variants and weights, coverage, since when it runs, serves so far."""
    if ctx.invoked_subcommand is not None:
        return
    from stepml.api import experiments

    table = Table("experiment", "kind", "variants", "coverage", "salt", "started", "serves")
    for e in experiments(spec=spec, root=root):
        record = e["record"] or {}
        variants = ", ".join(f"{k} {v:.0%}" for k, v in e["variants"].items())
        table.add_row(
            e["experiment"],
            e["kind"],
            variants,
            f"{e['coverage']:.0%}",
            e["settings"]["salt"],
            str(record.get("started_at") or "not yet"),
            str(e["serves"]),
        )
    console.print(table)


@experiments_app.command("dry-run")
def dry_run_cmd(
    name: NameArg,
    step: Annotated[str | None, typer.Option(help="The table step to split (default: the serve step's input).")] = None,
    coverage: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Try another coverage.")] = None,
    spec: SpecOpt = Path(DEFAULT_SPEC),
    root: RootOpt = None,
) -> None:
    """The split the experiment would make on the latest output of a table step - before it launches."""
    from stepml.api import dry_run

    found = dry_run(name, step=step, coverage=coverage, spec=spec, root=root)
    table = Table("variant", "units", "share", "expected")
    inside = max(found["in_experiment"], 1)
    for v, n in found["split"].items():
        table.add_row(v, f"{n:,}", f"{n / inside:.2%}", f"{found['expected'][v]:.2%}")
    console.print(
        f"{name}: {found['in_experiment']:,} of {found['units']:,} units of {found['step']!r} would be in the test"
    )
    console.print(table)
    if "srm_p_value" in found:
        console.print(f"sample-ratio check of this split: p = {found['srm_p_value']:.3g}")


@experiments_app.command("assignments")
def assignments_cmd(
    name: NameArg,
    out: Annotated[Path | None, typer.Option(help="Write them to this parquet file.")] = None,
    spec: SpecOpt = Path(DEFAULT_SPEC),
    root: RootOpt = None,
) -> None:
    """Every unit the experiment served: variant, bucket and when it was first assigned."""
    from stepml.api import assignments

    frame = assignments(name, spec=spec, root=root)
    if out is not None:
        frame.to_parquet(out, index=False)
        console.print(f"{len(frame):,} assignments written to {out}")
        return
    split = frame[frame["in_experiment"]].groupby("variant").size()
    console.print(
        f"{name}: {len(frame):,} units served; in the test: " + ", ".join(f"{k} {v:,}" for k, v in split.items())
    )
    console.print(frame.head(20).to_string(index=False))


@experiments_app.command("serving")
def serving_cmd(
    name: NameArg,
    run: Annotated[str | None, typer.Option(help="A run id (default: the latest run that served it).")] = None,
    duckdb: Annotated[Path | None, typer.Option(help="Also write it to this DuckDB file as a table.")] = None,
    table: Annotated[str | None, typer.Option(help="The DuckDB table's name (default: the experiment's).")] = None,
    spec: SpecOpt = Path(DEFAULT_SPEC),
    root: RootOpt = None,
) -> None:
    """The experiment's serving table: the lists units are shown, with their variant (and team)."""
    from stepml.api import serving

    frame = serving(name, run=run, duckdb=duckdb, table=table, spec=spec, root=root)
    by = frame.groupby("served_variant")[frame.columns[0]].nunique()
    console.print(f"{name}: {len(frame):,} rows for " + ", ".join(f"{k} {v:,} units" for k, v in by.items()))
    if duckdb is not None:
        console.print(f"written to {duckdb} as table {table or name.replace('-', '_')}")
