"""``stepml models``: the project's model registry - list, show, promote, rollback, approve, reject.

Locally the registry is ``models/<name>/`` under the artifact root (``stepml.store.models``); in AWS it is one
SageMaker model package group per model (approve there with ``aws sagemaker update-model-package``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stepml.cli.common import RootOpt, SpecOpt, console
from stepml.spec.models import DEFAULT_SPEC

models_app = typer.Typer(no_args_is_help=False, help="The model registry: versions, champions, approvals.")

NameArg = Annotated[str, typer.Argument(metavar="MODEL", help="The model's name (stepml models lists them).")]
VersionArg = Annotated[int, typer.Argument(metavar="VERSION", help="A registered version number.")]


def _registries(spec: Path, root: str | None) -> Any:
    from stepml.app import open_project
    from stepml.store.lock import Owner
    from stepml.store.models import Registries

    pipeline, store = open_project(spec, root)
    return Registries(store, Owner.current("cli"), legacy={pipeline.name: pipeline.name})


def _when(ts: Any) -> str:
    return dt.datetime.fromtimestamp(float(ts), tz=dt.UTC).strftime("%Y-%m-%d %H:%M") if ts else ""


@models_app.callback(invoke_without_command=True)
def list_models(ctx: typer.Context, spec: SpecOpt = Path(DEFAULT_SPEC), root: RootOpt = None) -> None:
    """Every model: its versions, metric, status and which is the champion and the challenger."""
    if ctx.invoked_subcommand is not None:
        return
    from stepml.api import models

    table = Table("model", "version", "alias", "status", "metric", "value", "pipeline", "registered", "digest")
    for v in models(spec=spec, root=root):
        value = v.get("value")
        table.add_row(
            v["model"],
            str(v["version"]),
            v["alias"],
            str(v.get("status") or ""),
            str(v.get("metric") or ""),
            f"{value:.4f}" if isinstance(value, float) else str(value),
            str(v.get("pipeline") or ""),
            _when(v.get("registered_at")),
            str(v.get("digest") or "")[:12],
        )
    console.print(table)


@models_app.command("promote")
def promote(name: NameArg, version: VersionArg, spec: SpecOpt = Path(DEFAULT_SPEC), root: RootOpt = None) -> None:
    """Make VERSION the champion (approving it if it was pending or rejected)."""
    registry = _registries(spec, root).get(name)
    registry.promote(version, by="stepml models promote")
    console.print(f"{name}: v{version} is the champion")


@models_app.command("approve")
def approve(name: NameArg, version: VersionArg, spec: SpecOpt = Path(DEFAULT_SPEC), root: RootOpt = None) -> None:
    """Approve a version awaiting manual approval (a gate with approval: manual): it becomes the champion."""
    from stepml.errors import StepmlError

    registry = _registries(spec, root).get(name)
    if registry.get(version).get("status") != "pending":
        raise StepmlError(
            f"model {name!r} v{version} is not awaiting approval (status {registry.get(version)['status']})"
        )
    registry.promote(version, by="stepml models approve")
    console.print(f"{name}: v{version} approved; it is the champion")


@models_app.command("reject")
def reject(name: NameArg, version: VersionArg, spec: SpecOpt = Path(DEFAULT_SPEC), root: RootOpt = None) -> None:
    """Mark a version rejected (it stays registered; the champion does not change)."""
    _registries(spec, root).get(name).reject(version)
    console.print(f"{name}: v{version} rejected")


@models_app.command("rollback")
def rollback(name: NameArg, spec: SpecOpt = Path(DEFAULT_SPEC), root: RootOpt = None) -> None:
    """Make the previous champion the champion again."""
    entry = _registries(spec, root).get(name).rollback(by="stepml models rollback")
    console.print(f"{name}: rolled back; v{entry['version']} is the champion")
