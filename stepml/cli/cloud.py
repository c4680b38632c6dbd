"""AWS commands of the ``stepml`` CLI: asl (offline), and start, cloud-status, resume, logs (boto3).

The operating commands build boto3 clients here (boto3 honours ``AWS_ENDPOINT_URL``, so tests point them at moto)
and pass them to :mod:`stepml.cloud.ops`.

Imports stay inside the commands: ``stepml run`` never pays for them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

_SpecOpt = Annotated[Path, typer.Option("--spec", "-f", "--pipeline", help="Pipeline spec file, or a pipeline's name.")]
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
    from stepml.cloud.asl import compile_definition, to_json
    from stepml.cloud.asl import resolve as fill
    from stepml.core.params import parse_assignments
    from stepml.core.plan import plan_params
    from stepml.spec import load_spec

    pipeline = load_spec(spec)
    given = parse_assignments(param or [])
    # validated exactly as an execution's Plan state will (run-date expressions at today's UTC date)
    values = plan_params(pipeline.plan_input, given, run_date=dt.datetime.now(dt.UTC).date())
    definition = compile_definition(pipeline)
    typer.echo(to_json(fill(definition) if resolve else definition))
    if param:
        typer.echo(f"# execution input: {json.dumps({'params': values})}", err=True)


_MachineOpt = Annotated[
    str | None,
    typer.Option(
        "--state-machine",
        envvar="STEPML_STATE_MACHINE_ARN",
        help="State machine ARN (default: the deployed stepml-<pipeline>-<stage>).",
    ),
]
_StageOpt = Annotated[str, typer.Option("--stage", help="Deployment stage, part of the state machine's name.")]
_ExecutionArg = Annotated[str, typer.Argument(help="Execution ARN, or an execution name of the state machine.")]


def _client(service: str) -> Any:
    from typing import cast

    import boto3

    return cast(Any, boto3).client(service)  # honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>


def _machine(sfn: Any, spec: Path, given: str | None, stage: str) -> str:
    from stepml.cloud.ops import CloudError
    from stepml.spec import load_spec

    if given:
        return given
    name = f"stepml-{load_spec(spec).name}-{stage}"
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return str(machine["stateMachineArn"])
    raise CloudError(f"no state machine named {name}: deploy it (docs/deploy.md) or pass --state-machine")


def _execution(sfn: Any, spec: Path, given: str, machine: str | None, stage: str) -> str:
    if given.startswith("arn:"):
        return given
    arn = _machine(sfn, spec, machine, stage)
    return f"{arn.replace(':stateMachine:', ':execution:')}:{given}"


def _guard(action: Any) -> None:
    """Map stepml and AWS errors to a message and exit code 2 (bad input) or 1 (AWS refused)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from stepml.errors import ParamError, SpecError, StepmlError

    try:
        action()
    except (ParamError, SpecError) as exc:
        typer.echo(f"{type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (StepmlError, ClientError, BotoCoreError) as exc:
        typer.echo(f"{type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc


def start(
    spec: _SpecOpt = Path("pipeline.yaml"),
    param: _ParamOpt = None,
    state_machine: _MachineOpt = None,
    stage: _StageOpt = "dev",
    name: Annotated[str | None, typer.Option("--name", help="Execution name (default: a timestamp).")] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Start as schedule NAME does: its steps and parameters.")
    ] = None,
) -> None:
    """Start an execution of the deployed state machine; parameters are validated here first."""

    def act() -> None:
        from stepml.cloud import ops
        from stepml.core.params import parse_assignments
        from stepml.core.plan import plan_params
        from stepml.core.schedule import run_of
        from stepml.spec import load_spec

        given = parse_assignments(param or [])
        pipeline = load_spec(spec)
        # validated as the Plan state will (the run's date: now, in the schedule's zone; UTC without one)
        run = run_of(pipeline.schedules, {"params": given, "schedule": schedule}, dt.datetime.now(dt.UTC))
        values = plan_params(pipeline.plan_input, run.params, run_date=run.run_date)  # ParamError before starting
        sfn = _client("stepfunctions")
        machine = _machine(sfn, spec, state_machine, stage)
        arn = ops.start(sfn, machine, {k: values[k] for k in given}, name=name, schedule=schedule)
        typer.echo(arn)

    _guard(act)


def cloud_status(
    execution: _ExecutionArg,
    spec: _SpecOpt = Path("pipeline.yaml"),
    state_machine: _MachineOpt = None,
    stage: _StageOpt = "dev",
    as_json: Annotated[bool, typer.Option("--json", help="Print the run tree as JSON.")] = False,
) -> None:
    """The run tree of an execution (cached/ran/failed per step), from its history and the manifests."""

    def act() -> None:
        from dataclasses import asdict

        from stepml.cloud import ops
        from stepml.spec import load_spec

        pipeline = load_spec(spec)
        sfn = _client("stepfunctions")
        arn = _execution(sfn, spec, execution, state_machine, stage)
        run = ops.status(sfn, _client("s3"), arn, list(pipeline.steps))
        if as_json:
            typer.echo(json.dumps(asdict(run), indent=2, default=str))
        else:
            _print_run(run)
        if run.status not in ("SUCCEEDED", "RUNNING"):
            raise typer.Exit(1)

    _guard(act)


def _print_run(run: Any) -> None:
    typer.echo(f"execution {run.name} {run.status}  params {json.dumps(run.params, sort_keys=True)}")
    for s in run.steps:
        took = f"{s.duration_s:.1f}s" if s.duration_s is not None and s.status in ("ran", "failed") else "-"
        rows = f"{s.rows:,} rows" if s.rows is not None else ""
        line = f"  {s.name:<16} {s.status:<8} {took:>8}  {s.key or '':<20} {rows}"
        typer.echo(line.rstrip() + (f"  {s.detail}" if s.detail else "") + (f"\n    {s.error}" if s.error else ""))


def resume(
    execution: _ExecutionArg,
    spec: _SpecOpt = Path("pipeline.yaml"),
    state_machine: _MachineOpt = None,
    stage: _StageOpt = "dev",
) -> None:
    """Redrive a failed execution when Step Functions allows it; else start it again (finished steps are cached)."""

    def act() -> None:
        from stepml.cloud import ops

        sfn = _client("stepfunctions")
        how, arn = ops.resume(sfn, _execution(sfn, spec, execution, state_machine, stage))
        typer.echo(f"{'redriven' if how == 'redrive' else 'restarted as'}: {arn}")

    _guard(act)


def logs(
    step: Annotated[str, typer.Argument(help="Step name.")],
    execution: Annotated[
        str | None, typer.Option("--execution", "-e", help="Execution ARN or name (default: the latest).")
    ] = None,
    spec: _SpecOpt = Path("pipeline.yaml"),
    state_machine: _MachineOpt = None,
    stage: _StageOpt = "dev",
    ecs_log_group: Annotated[
        str | None,
        typer.Option("--ecs-log-group", envvar="STEPML_ECS_LOG_GROUP", help="The ECS tasks' log group."),
    ] = None,
) -> None:
    """A step's logs: its training job's or ECS tasks' CloudWatch Logs, and the log files of its attempt."""

    def act() -> None:
        from stepml.cloud import ops

        sfn = _client("stepfunctions")
        machine = _machine(sfn, spec, state_machine, stage)
        arn = _execution(sfn, spec, execution, machine, stage) if execution else ops.latest_execution(sfn, machine)
        source = ops.log_source(sfn, arn, step, ecs_log_group=ecs_log_group)
        bucket = ops.artifact_bucket(sfn, machine)
        for line in ops.read_logs(source, bucket=bucket, s3=_client("s3"), logs=_client("logs")):
            typer.echo(line)

    _guard(act)


def register(app: typer.Typer) -> None:
    """Add the AWS commands to ``app``."""
    app.command("asl")(asl)
    app.command("start")(start)
    app.command("cloud-status")(cloud_status)
    app.command("resume")(resume)
    app.command("logs")(logs)
