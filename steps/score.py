"""Batch scoring entrypoint, written as an ECS/Fargate task; ``python -m steps.score``.

Every option can also be set by an environment variable ``STEPML_<NAME>`` (``--model-dir`` ->
``STEPML_MODEL_DIR``); a command-line argument wins over the variable. ``STEPML_INPUT`` holds one path or a
JSON list of paths.

    --step NAME            step name for error reports (default "score")
    --model-dir DIR        model.joblib + model_meta.json written by the training step
    --model-version STR    written to every output row
    --run-id STR           written to every output row
    --input FILE           parquet input; repeat for several files (scored and written in the given order)
    --output FILE          parquet output
    --batch-rows INT       rows per batch (default 65536); memory use depends on this, not on the input size
    --threads INT          OpenMP/BLAS threads for prediction (default 1; 0 = all cores)
    --failure-file PATH    where to write the failure JSON

Output columns: the model's id columns (types as in the input), ``prediction`` (class label or value),
``score`` (probability of the positive class, binary classification only), ``model_version``, ``run_id``.
The output is written to ``<output>.tmp`` and renamed at the end, so an interrupted task never leaves a file
that looks finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stepml.errors import StepInputError
from steps._entry import run_entrypoint
from steps._model import (
    PREDICTION,
    SCORE,
    LoadedModel,
    arrow_to_pandas,
    check_files,
    load_model,
    open_parquet,
    thread_limit,
)

__all__ = ["ScoreArgs", "ScoreResult", "load_model", "main", "parse_args", "predict", "score_files"]

DEFAULT_BATCH_ROWS = 65536


@dataclass(frozen=True)
class ScoreResult:
    rows: int
    output: Path


# --------------------------------------------------------------------------------------------- core


def predict(model: LoadedModel, frame: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """(prediction, score) for a pandas frame holding the model's features; score only for binary models.

    For a binary model one pass of the trees gives both: the decision value d predicts the positive class
    when d > 0 (exactly what ``predict`` does) and its probability is sigmoid(d) (what ``predict_proba`` does).
    """
    pipeline = model.pipeline
    if model.meta.binary:
        from scipy.special import expit

        decision = np.asarray(pipeline.decision_function(frame), dtype=np.float64)
        classes = np.asarray(pipeline.classes_)
        return classes[(decision > 0).astype(np.intp)], expit(decision)
    return np.asarray(pipeline.predict(frame)), None


def output_schema(model: LoadedModel, input_schema: pa.Schema) -> pa.Schema:
    """Id columns typed as in the (first) input, then prediction, score (binary only), model_version, run_id."""
    meta = model.meta
    fields = [input_schema.field(c) for c in meta.id_columns]
    if meta.task == "classification":
        prediction_type = pa.array(np.asarray(model.pipeline.classes_)).type
    else:
        prediction_type = pa.float64()
    fields.append(pa.field(PREDICTION, prediction_type))
    if meta.binary:
        fields.append(pa.field(SCORE, pa.float64()))
    fields += [pa.field("model_version", pa.string()), pa.field("run_id", pa.string())]
    return pa.schema(fields)


def score_files(
    model: LoadedModel,
    inputs: Sequence[Path],
    output: Path,
    *,
    batch_rows: int,
    run_id: str,
    model_version: str,
    step: str,
    threads: int = 0,
) -> ScoreResult:
    """Score ``inputs`` in order into one parquet file, streaming ``batch_rows`` rows at a time.

    Every input is checked (readable parquet, every id and feature column present, numeric features of a
    number type) before anything is written. ``threads`` limits OpenMP/BLAS (and Arrow) threads; 0 = no limit.
    """
    meta = model.meta
    if not inputs:
        raise StepInputError(step, "no input files to score")
    if batch_rows < 1:
        raise StepInputError(step, f"batch_rows must be >= 1, got {batch_rows}")
    needed = list(dict.fromkeys([*meta.id_columns, *meta.features]))
    files = {path: open_parquet(path, step=step) for path in inputs}
    if len(files) != len(inputs):
        raise StepInputError(step, f"input files are listed more than once: {[str(p) for p in inputs]}")
    check_files(
        files,
        required=needed,
        numeric=meta.numeric,
        step=step,
        what=f"the model needs id_columns {list(meta.id_columns)} and features {list(meta.features)}",
    )
    schema = output_schema(model, files[inputs[0]].schema_arrow)
    use_threads = threads != 1
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer, thread_limit(threads):
            for path, pf in files.items():
                try:
                    for batch in pf.iter_batches(batch_size=batch_rows, columns=needed, use_threads=use_threads):
                        writer.write_table(_score_batch(model, batch, schema, run_id, model_version, path, step))
                        rows += batch.num_rows
                except (pa.ArrowException, OSError) as exc:
                    raise StepInputError(step, f"input file {path} is corrupt or unreadable: {exc}") from exc
                finally:
                    pf.close()
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ScoreResult(rows=rows, output=output)


def _score_batch(
    model: LoadedModel,
    batch: pa.RecordBatch,
    schema: pa.Schema,
    run_id: str,
    model_version: str,
    path: Path,
    step: str,
) -> pa.Table:
    meta = model.meta
    n = batch.num_rows
    frame = arrow_to_pandas(pa.Table.from_batches([batch]).select(list(meta.features)))
    prediction, score = predict(model, frame)
    columns: list[pa.Array | pa.ChunkedArray] = []
    for name in meta.id_columns:
        column = batch.column(name)
        target = schema.field(name).type
        if column.type != target:
            try:
                column = column.cast(target)
            except pa.ArrowException as exc:
                raise StepInputError(
                    step,
                    f"id column {name!r} has type {column.type} in {path.name} but {target} in the first input "
                    f"file; it cannot be converted: {exc}",
                ) from exc
        columns.append(column)
    columns.append(pa.array(prediction, type=schema.field(PREDICTION).type))
    if score is not None:
        columns.append(pa.array(score, type=pa.float64()))
    columns.append(pa.array([model_version] * n, type=pa.string()))
    columns.append(pa.array([run_id] * n, type=pa.string()))
    return pa.Table.from_arrays(columns, schema=schema)


# --------------------------------------------------------------------------------------------- adapter


@dataclass(frozen=True)
class ScoreArgs:
    step: str
    model_dir: Path
    model_version: str
    run_id: str
    inputs: tuple[Path, ...]
    output: Path
    batch_rows: int
    threads: int
    failure_file: Path | None


class _Parser(argparse.ArgumentParser):
    step = "score"

    def error(self, message: str) -> NoReturn:
        raise StepInputError(self.step, f"invalid arguments: {message}")


def _parser(step: str) -> _Parser:
    parser = _Parser(prog="python -m steps.score", description="Score parquet files with a trained model.")
    parser.step = step
    parser.add_argument("--step")
    parser.add_argument("--model-dir")
    parser.add_argument("--model-version")
    parser.add_argument("--run-id")
    parser.add_argument("--input", action="append", dest="input")
    parser.add_argument("--output")
    parser.add_argument("--batch-rows", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--failure-file")
    return parser


def _env_inputs(value: str, step: str) -> list[str]:
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise StepInputError(step, f"STEPML_INPUT is not a valid JSON list: {exc}") from exc
        if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
            raise StepInputError(step, "STEPML_INPUT must be a path or a JSON list of paths")
        return parsed
    return [value] if value else []


def _pre_parse(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, Path | None]:
    """Step name and failure file, read leniently so that even bad arguments can be reported."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--step")
    pre.add_argument("--failure-file")
    try:
        known, _ = pre.parse_known_args(list(argv))
    except SystemExit:
        return "score", None
    step = known.step or env.get("STEPML_STEP") or "score"
    failure = known.failure_file or env.get("STEPML_FAILURE_FILE")
    return step, Path(failure) if failure else None


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> ScoreArgs:
    """Arguments, falling back to ``STEPML_<NAME>`` environment variables; errors are StepInputErrors."""
    step, failure = _pre_parse(argv, env)
    ns = _parser(step).parse_args(list(argv))

    def value(name: str) -> str | None:
        given = getattr(ns, name)
        if given is not None:
            return str(given)
        return env.get(f"STEPML_{name.upper()}") or None

    def integer(name: str, default: int, minimum: int) -> int:
        raw = value(name)
        try:
            result = int(raw) if raw is not None else default
        except ValueError:
            raise StepInputError(step, f"--{name.replace('_', '-')}: expected an integer, got {raw!r}") from None
        if result < minimum:
            raise StepInputError(step, f"--{name.replace('_', '-')}: expected >= {minimum}, got {result}")
        return result

    inputs = ns.input if ns.input else _env_inputs(env.get("STEPML_INPUT", ""), step)
    required = {"model_dir": value("model_dir"), "model_version": value("model_version"), "run_id": value("run_id")}
    required["output"] = value("output")
    missing = [f"--{k.replace('_', '-')} (or STEPML_{k.upper()})" for k, v in required.items() if not v]
    if not inputs:
        missing.append("--input (or STEPML_INPUT)")
    if missing:
        raise StepInputError(step, f"missing required argument(s): {', '.join(missing)}")
    return ScoreArgs(
        step=step,
        model_dir=Path(str(required["model_dir"])),
        model_version=str(required["model_version"]),
        run_id=str(required["run_id"]),
        inputs=tuple(Path(p) for p in inputs),
        output=Path(str(required["output"])),
        batch_rows=integer("batch_rows", DEFAULT_BATCH_ROWS, 1),
        threads=integer("threads", 1, 0),
        failure_file=failure,
    )


def run(args: ScoreArgs) -> ScoreResult:
    model = load_model(args.model_dir, step=args.step)
    return score_files(
        model,
        args.inputs,
        args.output,
        batch_rows=args.batch_rows,
        run_id=args.run_id,
        model_version=args.model_version,
        step=args.step,
        threads=args.threads,
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    step, failure = _pre_parse(argv, env)

    def entry() -> None:
        result = run(parse_args(argv, env))
        print(f"stepml: step {step!r}: scored {result.rows} rows -> {result.output}")

    return run_entrypoint(step, failure, entry)


if __name__ == "__main__":
    raise SystemExit(main())
