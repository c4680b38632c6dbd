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
    --reference FILE      the reference profile (profile.json written by train): enables drift, the expectation
                          suite generated from it, the evidently sample and the metrics that need it
    --reference-sample FILE  real training rows (reference_sample.parquet written by train) that evidently's
                          page is rendered against; copied beside the report
    --predictions FILE    a scoring output file (its ``prediction`` and ``score`` columns are checked); repeatable
    --pipeline NAME       the pipeline's name (the ``Pipeline`` metric dimension; default "stepml")
    --run-id ID           the run this check belongs to (metric history)
    --validation-metric X the serving model's validation metric (metric ``ValidationMetric``)

Beside the report (same directory) it writes ``metrics.emf.jsonl`` (CloudWatch Embedded Metric Format, one
document a line, also printed to stdout), ``history.json`` (this run's metric-history record), and with a
reference ``current_profile.json``, ``reference_profile.json`` (a copy) and ``sample.parquet`` (the bounded
sample evidently's report is rendered from), and with ``--reference-sample`` a copy of it as
``reference_sample.parquet`` (the training rows evidently's report is rendered against).

Exit codes: 0 the checks ran (the report says which failed); 2 bad input (missing/corrupt file, bad config,
unknown column) or a failed check with ``fail_run: true`` (``DataQualityError``, after the report is
written); 1 a crash.

Without ``--reference`` it imports only pyarrow, numpy, pydantic and stepml.errors (no pandas, no sklearn);
with one, pandas and Great Expectations are imported lazily for the expectation suite.
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

from monitoring.checks import DEFAULT_BATCH_SIZE, CheckReport, run_checks, with_checks
from monitoring.config import CheckConfig
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
    parser.add_argument("--reference", metavar="FILE", help="reference profile JSON (env STEPML_REFERENCE)")
    parser.add_argument("--reference-sample", metavar="FILE", help="training rows (env STEPML_REFERENCE_SAMPLE)")
    parser.add_argument("--predictions", action="append", metavar="FILE", help="scoring output file, repeatable")
    parser.add_argument("--pipeline", help="pipeline name, the Pipeline dimension (env STEPML_PIPELINE)")
    parser.add_argument("--run-id", help="run id for the metric history (env STEPML_RUN_ID)")
    parser.add_argument("--validation-metric", help="the model's validation metric (env STEPML_VALIDATION_METRIC)")
    return parser


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse ``argv``, filling every option not given from ``STEPML_<OPTION>`` in ``env``."""
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    for name in (
        "step",
        "config",
        "output",
        "failure_file",
        "batch_size",
        "reference",
        "reference_sample",
        "pipeline",
        "run_id",
        "validation_metric",
    ):
        if getattr(args, name) is None:
            setattr(args, name, env.get(ENV_PREFIX + name.upper()) or None)
    args.input_error = None
    if args.input is None:
        try:
            args.input = _split_inputs(env.get(ENV_PREFIX + "INPUT", ""))
        except ValueError as exc:
            args.input, args.input_error = [], str(exc)
    args.step = args.step or "check"
    args.predictions = args.predictions or []
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
    reference = load_reference(args.reference, step=step)
    if reference is not None and config.expectations.enabled:
        # importing Great Expectations takes ~3 s: do it while the streamed scan and drift statistics run
        import threading

        from monitoring.expectations import preload

        threading.Thread(target=preload, name="gx-import", daemon=True).start()
    report = run_checks(
        args.input, config, step=step, batch_size=batch_size, reference=reference, prediction_paths=args.predictions
    )
    out_dir = Path(args.output).parent
    if reference is not None:
        report = _with_reference_outputs(report, reference, config, [*args.input, *args.predictions], out_dir, step)
        if args.reference_sample:
            copy_reference_sample(args.reference_sample, out_dir, step=step)
    document = report.to_dict()
    document["run"] = _emit_metrics(args, step, report, document, out_dir)
    write_json_atomic(Path(args.output), document)
    failed = [c.key for c in report.failed]
    print(
        f"stepml: step {step!r}: checks {report.status}: {report.rows} rows, "
        f"{len(report.checks)} checks, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
    )
    if failed and config.fail_run:
        raise DataQualityError(step, report.describe_failures())
    return report


def load_reference(path: str | None, *, step: str) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise StepInputError(step, f"cannot read the reference profile {path!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise StepInputError(step, f"the reference profile {path!r} is not a JSON object")
    return data


def copy_reference_sample(path: str, out_dir: Path, *, step: str) -> None:
    import shutil

    from monitoring.evidently_report import REFERENCE_SAMPLE_FILE

    if not Path(path).is_file():
        raise StepInputError(step, f"the reference sample {path!r} does not exist or is not a file")
    shutil.copyfile(path, out_dir / REFERENCE_SAMPLE_FILE)


def _with_reference_outputs(
    report: CheckReport, reference: dict[str, Any], config: CheckConfig, paths: list[str], out_dir: Path, step: str
) -> CheckReport:
    """The expectation suite's results; the current and reference profiles and evidently's sample as files."""
    from monitoring.expectations import frame_from_parquet, suite_definition, validate

    columns = list(reference["columns"])
    frame = frame_from_parquet(paths, columns, config.expectations.max_rows)
    if config.expectations.enabled:
        report = with_checks(report, validate(frame, suite_definition(reference, config), step=step))  # type: ignore[arg-type]
    write_json_atomic(out_dir / "reference_profile.json", reference)
    if report.current_profile is not None:
        write_json_atomic(out_dir / "current_profile.json", report.current_profile)
    if config.report.sample_rows and len(frame):
        import numpy as np

        sample = frame.iloc[np.linspace(0, len(frame) - 1, min(config.report.sample_rows, len(frame))).astype(np.int64)]
        sample.reset_index(drop=True).to_parquet(out_dir / "sample.parquet", index=False)
    return report


def _emit_metrics(
    args: argparse.Namespace, step: str, report: CheckReport, document: dict[str, Any], out_dir: Path
) -> dict[str, Any]:
    """Metrics of this run: into the report, as EMF (stdout + metrics.emf.jsonl), as a history record."""
    import time

    from monitoring.metrics import emf_documents, history_record, metrics_from_report

    pipeline = args.pipeline or "stepml"
    run_id = args.run_id or "adhoc"
    validation: float | None = None
    if args.validation_metric not in (None, ""):
        try:
            validation = float(args.validation_metric)
        except ValueError as exc:
            raise StepInputError(step, f"--validation-metric is not a number: {args.validation_metric!r}") from exc
    now = time.time()
    points = metrics_from_report(
        document, pipeline=pipeline, step=step, profile=report.current_profile, validation_metric=validation
    )
    document["metrics"] = [p.to_dict() for p in points]
    docs = emf_documents(points, timestamp_ms=int(now * 1000))
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(d, allow_nan=False, separators=(",", ":")) for d in docs]
    (out_dir / "metrics.emf.jsonl").write_text("".join(line + "\n" for line in lines))
    for line in lines:
        print(line)
    record = history_record(points, pipeline=pipeline, step=step, run_id=run_id, timestamp=now)
    write_json_atomic(out_dir / "history.json", record)
    return {"pipeline": pipeline, "run_id": run_id, "timestamp": now}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def _main() -> None:
        run(args)

    return run_entrypoint(args.step, args.failure_file, _main)


if __name__ == "__main__":
    sys.exit(main())
