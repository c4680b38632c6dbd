"""Entrypoint of the ``check`` step: ``python -m steps.check`` (a local process, or the ECS task in AWS).

Every option can also come from the environment as ``STEPML_<OPTION>`` (``--failure-file`` ->
``STEPML_FAILURE_FILE``); a command-line option wins over its variable. ``STEPML_INPUT`` holds several files
as a JSON list (``["a.parquet", "b.parquet"]``) or separated by ``os.pathsep``.

    --step NAME           the step's name in the spec (default "check"), used in errors
    --input FILE          a parquet file to check; repeat for several (scoring features, predictions, parts)
    --config JSON         the check config (monitoring.checks.CheckConfig) as a JSON object; default {}
    --output FILE         where to write the report JSON (atomically)
    --failure-file PATH   where to write {"error", "step", "message"} on failure
    --batch-size N        rows per streamed record batch (default 65536)

Exit codes: 0 the checks ran (the report says which failed); 2 bad input (missing/corrupt file, bad config,
unknown column) or a failed check with ``fail_run: true`` (``DataQualityError``, after the report is
written); 1 a crash.

Imports only pyarrow, pydantic and stepml.errors on this path (no pandas, no sklearn) so the task starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitoring.checks import DEFAULT_BATCH_SIZE, CheckConfig, CheckReport, run_checks
from stepml.errors import DataQualityError, StepInputError
from steps._entry import run_entrypoint

ENV_PREFIX = "STEPML_"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m steps.check", description="Run data-quality checks.")
    parser.add_argument("--step", help="step name (env STEPML_STEP; default 'check')")
    parser.add_argument("--input", action="append", metavar="FILE", help="parquet file, repeatable (env STEPML_INPUT)")
    parser.add_argument("--config", metavar="JSON", help="check config as JSON (env STEPML_CONFIG)")
    parser.add_argument("--output", metavar="FILE", help="report JSON path (env STEPML_OUTPUT)")
    parser.add_argument("--failure-file", metavar="PATH", help="failure JSON path (env STEPML_FAILURE_FILE)")
    parser.add_argument("--batch-size", metavar="N", help="rows per record batch (env STEPML_BATCH_SIZE)")
    return parser


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse ``argv``, filling every option not given from ``STEPML_<OPTION>`` in ``env``."""
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    for name in ("step", "config", "output", "failure_file", "batch_size"):
        if getattr(args, name) is None:
            setattr(args, name, env.get(ENV_PREFIX + name.upper()) or None)
    args.input_error = None
    if args.input is None:
        try:
            args.input = _split_inputs(env.get(ENV_PREFIX + "INPUT", ""))
        except ValueError as exc:
            args.input, args.input_error = [], str(exc)
    args.step = args.step or "check"
    args.failure_file = Path(args.failure_file) if args.failure_file else None
    return args


def _split_inputs(value: str) -> list[str]:
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return items
        raise ValueError(f"STEPML_INPUT is not a JSON list of paths: {value!r}")
    return [v for v in value.split(os.pathsep) if v]


def load_config(text: str | None, *, step: str) -> CheckConfig:
    if text is None or not text.strip():
        return CheckConfig()
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StepInputError(step, f"--config is not valid JSON: {exc}") from exc
    try:
        return CheckConfig.model_validate(data)
    except ValidationError as exc:
        raise StepInputError(step, f"invalid check config: {exc}") from exc


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> CheckReport:
    step: str = args.step
    if args.input_error:
        raise StepInputError(step, args.input_error)
    if not args.input:
        raise StepInputError(step, "no input files: pass --input FILE (repeatable) or set STEPML_INPUT")
    if not args.output:
        raise StepInputError(step, "no report path: pass --output FILE or set STEPML_OUTPUT")
    batch_size = DEFAULT_BATCH_SIZE
    if args.batch_size is not None:
        try:
            batch_size = int(args.batch_size)
        except ValueError:
            batch_size = 0
        if batch_size < 1:
            raise StepInputError(step, f"--batch-size must be a positive integer, got {args.batch_size!r}")
    config = load_config(args.config, step=step)
    report = run_checks(args.input, config, step=step, batch_size=batch_size)
    write_json_atomic(Path(args.output), report.to_dict())
    failed = [c.key for c in report.failed]
    print(
        f"stepml: step {step!r}: checks {report.status}: {report.rows} rows, "
        f"{len(report.checks)} checks, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
    )
    if failed and config.fail_run:
        raise DataQualityError(step, report.describe_failures())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def _main() -> None:
        run(args)

    return run_entrypoint(args.step, args.failure_file, _main)


if __name__ == "__main__":
    sys.exit(main())
