"""``stepml`` command line: the adapter for people.

It reads arguments and the environment, builds the store (and, for an ``s3://`` root, the boto3 client) through
``stepml.app``, calls the runner, prints progress and a summary, and maps the error tree to exit codes in one
place (2: bad spec or parameters; 1: a step or the run failed). Step types add their own commands
(``stepml.cli.extensions``).

    common      consoles, options, how a run is printed
    local       run, status, plan, explain, sample-data;  gc  removing outputs nothing refers to
    cloud       asl (offline), start, cloud-status, resume, logs
    explain     why a step would hit or miss the cache
    models      the model registry: list, promote, rollback, approve, reject
    experiments online tests: their state, a dry run of the split, the assignments
"""

from __future__ import annotations

import sys

if sys.argv[1:2] == ["run"]:  # start a warm step process now: it imports pandas while the command loads the spec
    from stepml.local import warm

    warm.start()

import typer
from rich.markup import escape

from stepml.cli import cloud, extensions, gc, local
from stepml.cli.common import err_console
from stepml.cli.experiments import experiments_app
from stepml.cli.models import models_app
from stepml.core.redact import redact
from stepml.errors import RunError, SpecError, StepmlError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # main() prints unexpected errors: plain, redacted, never local variables
    pretty_exceptions_show_locals=False,
    help="One declared ML pipeline, run locally or on AWS.",
)
app.command("run")(local.run)
app.command("status")(local.status)
app.command("plan")(local.plan_cmd)
app.command("explain")(local.explain)
app.command("sample-data")(local.sample_data)
app.add_typer(models_app, name="models")
app.add_typer(experiments_app, name="experiments")
app.command("gc")(gc.gc)
cloud.register(app)
extensions.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map stepml's errors to messages and exit codes."""
    try:
        app(args=argv, standalone_mode=False)
    except StepmlError as exc:
        text = str(exc) if isinstance(exc, SpecError | RunError) else f"{type(exc).__name__}: {exc}"
        err_console.print("[bold red]error:[/] ", escape(redact(text)), sep="", soft_wrap=True)
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
        _internal_error(exc)
        sys.exit(1)


def _internal_error(exc: BaseException) -> None:
    """A bug or an error stepml does not wrap: its traceback (file, line, code - never local variables), with
    secrets redacted, and one line saying what it was."""
    import traceback

    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    print(redact(trace), file=sys.stderr, end="")
    print(redact(f"error: internal error: {type(exc).__name__}: {exc}"), file=sys.stderr)


if __name__ == "__main__":
    main()
