"""The check step's entry (``python -m stepml.entry``; an ECS task in AWS): data-quality and drift checks.

It checks the features (its table input) and, when a score step feeds it, the predictions - against the
reference profile of the model that scored them (``profile.json`` in the model folder written by train), which
enables drift, the expectation suite generated from it, the evidently sample and the metrics that need it.

Beside the report (``report.json``) it writes ``metrics.emf.jsonl`` (CloudWatch Embedded Metric Format, one
document a line, also printed to stdout), ``history.json`` (this run's metric-history record), and with a
reference ``current_profile.json``, ``reference_profile.json`` (a copy), ``sample.parquet`` (the bounded
sample evidently's report is rendered from) and, when the model folder has it, ``reference_sample.parquet`` (real
training rows, written by train: what evidently's report is rendered against). A failed check with ``fail_run: true`` raises ``DataQualityError``
after the report is written.

Without a reference it imports only pyarrow, numpy, pydantic and stepml (no pandas, no sklearn); with one,
pandas and Great Expectations are imported lazily for the expectation suite.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitoring.checks import CheckReport, run_checks, with_checks
from monitoring.config import CheckConfig
from monitoring.evidently_report import REFERENCE_SAMPLE_FILE
from stepml.entry import EntryResult, Invocation
from stepml.errors import DataQualityError, StepInputError
from steps.check.summary import REPORT, from_report


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(inv: Invocation) -> EntryResult:
    """Check the features (the table input; else the predictions) and, when a score step feeds the check, the
    predictions against the reference profile of the model that scored them."""
    step = inv.step
    predictions_from = inv.upstream_of("predictions")
    features_from = next((n for n, i in inv.inputs.items() if "table" in i.kinds and n != predictions_from), None)
    source = features_from or predictions_from
    if source is None:
        raise StepInputError(step, "a check step needs a table or predictions input")
    paths = [str(p) for p in inv.input(source).files()]
    predictions = [str(p) for p in inv.input(predictions_from).files()] if features_from and predictions_from else []
    if not paths:
        raise StepInputError(step, f"the input {source!r} has no files to check")
    try:
        config = CheckConfig.model_validate(inv.config.get("check", {}))
    except ValidationError as exc:
        raise StepInputError(step, f"invalid check config: {exc}") from exc
    reference, validation = None, None
    model = inv.input(predictions_from) if predictions_from and features_from else None
    if model is not None and model.model_dir and (Path(model.model_dir) / "profile.json").exists():
        reference = load_reference(str(Path(model.model_dir) / "profile.json"), step=step)
        value = model.summary.get("value")
        validation = float(value) if value is not None else None
    if reference is not None and config.expectations.enabled:
        # importing Great Expectations takes ~3 s: do it while the streamed scan and drift statistics run
        import threading

        from monitoring.expectations import preload

        threading.Thread(target=preload, name="gx-import", daemon=True).start()
    report = run_checks(paths, config, step=step, reference=reference, prediction_paths=predictions)
    out_dir = inv.output
    if reference is not None:
        report = _with_reference_outputs(report, reference, config, [*paths, *predictions], out_dir, step)
        assert model is not None and model.model_dir is not None
        sample = Path(model.model_dir) / REFERENCE_SAMPLE_FILE
        if sample.is_file():  # real training rows (written by train): what evidently's page is rendered against
            shutil.copyfile(sample, out_dir / REFERENCE_SAMPLE_FILE)
    document = report.to_dict()
    document["run"] = _emit_metrics(inv, report, document, out_dir, validation)
    write_json_atomic(out_dir / REPORT, document)
    failed = [c.key for c in report.failed]
    print(
        f"stepml: step {step!r}: checks {report.status}: {report.rows} rows, "
        f"{len(report.checks)} checks, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
    )
    if failed and config.fail_run:
        raise DataQualityError(step, report.describe_failures())
    return EntryResult(**from_report(document))


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
    inv: Invocation, report: CheckReport, document: dict[str, Any], out_dir: Path, validation: float | None
) -> dict[str, Any]:
    """Metrics of this run: into the report, as EMF (stdout + metrics.emf.jsonl), as a history record."""
    import time

    from monitoring.metrics import emf_documents, history_record, metrics_from_report

    step, pipeline, run_id = inv.step, inv.pipeline or "stepml", inv.run_id or "adhoc"
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
