"""AWS commands of the ``stepml`` CLI (asl, and later start/status --cloud/resume/logs).

Imports stay inside the commands: ``stepml run`` never pays for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

_SpecOpt = Annotated[Path, typer.Option("--spec", "-f", help="Pipeline spec file.")]
_ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Run parameter key=value (repeatable): validated, and shown as the input."),
]
_ResolveOpt = Annotated[
    bool,
    typer.Option("--resolve/--placeholders", help="Fill ${Name} placeholders with example values (default: keep)."),
]


def asl(spec: _SpecOpt = Path("pipeline.yaml"), param: _ParamOpt = None, resolve: _ResolveOpt = False) -> None:
    """Print the Step Functions definition compiled from the spec (offline: no AWS call, nothing written)."""
    import json

    from stepml.cloud.asl import compile_definition, to_json
    from stepml.cloud.asl import resolve as fill
    from stepml.params import parse_assignments
    from stepml.plan import make_plan, plan_input
    from stepml.spec import load_spec

    pipeline = load_spec(spec)
    pinput = plan_input(pipeline)
    given = parse_assignments(param or [])
    plan = make_plan(pinput, given)  # validates the parameters exactly as an execution's Plan state will
    definition = compile_definition(pipeline, pinput)
    typer.echo(to_json(fill(definition) if resolve else definition))
    if param:
        typer.echo(f"# execution input: {json.dumps({'params': plan.params})}", err=True)


def register(app: typer.Typer) -> None:
    """Add the AWS commands to ``app``."""
    app.command("asl")(asl)
