"""``stepml gc``: the step outputs nothing refers to any more - listed (dry run) or removed (``--yes``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stepml.app import open_project
from stepml.cli.common import RootOpt, SpecOpt, console
from stepml.spec import DEFAULT_SPEC


def gc(
    spec: SpecOpt = Path(DEFAULT_SPEC),
    root: RootOpt = None,
    days: Annotated[float, typer.Option("--days", min=0, help="Keep what runs of the last DAYS days use.")] = 30,
    yes: Annotated[bool, typer.Option("--yes", help="Delete; without it, only list what would go.")] = False,
    keep_runs: Annotated[int, typer.Option("--keep-runs", min=0, help="Always keep the newest N run records.")] = 20,
) -> None:
    """Remove step outputs no recent run, running run, registered model or held lock refers to; run records and
    failure logs past the window; an online test's served-log entries of removed outputs and old published days."""
    from stepml.gc import collect_garbage

    pipeline, store = open_project(spec, root)
    report = collect_garbage(store, pipeline.name, retention_days=days, delete=yes, keep_runs=keep_runs)
    verb = "removed" if yes else "would remove"
    for uri, size in sorted({**report.removed, **report.records}.items()):
        console.print(f"  {verb} {uri} ({_human(size)})", soft_wrap=True, markup=False)
    total = f"{len(report.removed)} output(s) and {len(report.records)} record(s)/log(s), {_human(report.bytes)}"
    console.print(f"{verb} {total} ({report.bytes:,} bytes); kept {len(report.kept)}", markup=False)
    if not yes and (report.removed or report.records):
        console.print("dry run: nothing was deleted; pass --yes to delete", markup=False)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
