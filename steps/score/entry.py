"""Batch scoring: the entry of a score step's processes (``python -m stepml.entry``, an ECS task in AWS).

Each process scores its partition's files of the step's table input with the model of its model input, in
batches of ``batch_rows`` rows (memory depends on that, not on the input size), into
``data/part-<partition>.parquet``: the model's id columns (types as in the input), ``prediction`` (class label or
value), ``score`` (probability of the positive class, binary classification only), ``model_version``, ``run_id``.
The output is written to ``<output>.tmp`` and renamed at the end, so an interrupted task never leaves a file that
looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stepml.entry import EntryResult, Invocation
from stepml.errors import StepInputError, write_error
from steps._model import PREDICTION, SCORE, LoadedModel, file_digest, load_model, read_meta, thread_limit
from steps._parquet import arrow_to_pandas, check_files, open_parquet
from steps.score.summary import label, partition_result

__all__ = ["ScoreResult", "load_model", "predict", "run", "score_files"]

DEFAULT_BATCH_ROWS = 65536


@dataclass(frozen=True)
class ScoreResult:
    rows: int
    output: Path


# --------------------------------------------------------------------------------------------- core


# final estimators whose binary predict_proba is sigmoid(decision_function) and predict is decision > 0
_SIGMOID_DECISION = {
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.linear_model._logistic.LogisticRegression",
}


def _final(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else estimator


def predict(model: LoadedModel, frame: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """(prediction, score) for a pandas frame holding the model's features; score only for binary models.

    For a binary gradient-boosting or logistic model one pass gives both: the decision value d predicts the
    positive class when d > 0 (exactly what ``predict`` does) and its probability is sigmoid(d) (what
    ``predict_proba`` does). Other models: ``predict`` and ``predict_proba``.
    """
    pipeline = model.pipeline
    x = model.prepare(frame)
    if model.meta.binary:
        final = _final(pipeline)
        if f"{type(final).__module__}.{type(final).__qualname__}" in _SIGMOID_DECISION:
            from scipy.special import expit

            decision = np.asarray(pipeline.decision_function(x), dtype=np.float64)
            classes = np.asarray(pipeline.classes_)
            return classes[(decision > 0).astype(np.intp)], expit(decision)
        return np.asarray(pipeline.predict(x)), np.asarray(pipeline.predict_proba(x))[:, 1]
    return np.asarray(pipeline.predict(x)), None


def output_schema(model: LoadedModel, input_schema: pa.Schema) -> pa.Schema:
    """Id columns typed as in the (first) input, then prediction, score (binary only), model_version, run_id."""
    meta = model.meta
    fields = [input_schema.field(c) for c in meta.id_columns]
    if meta.task == "classification":
        classes = getattr(model.pipeline, "classes_", None)
        prediction_type = pa.array(np.asarray(classes if classes is not None else model.meta.classes)).type
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
                    for batch in _read(pf, path, batch_rows, needed, use_threads, step):
                        table = _score_batch(model, batch, schema, run_id, model_version, path, step)
                        writer.write_table(table)  # an OSError here is the output's (a full disk), not the input's
                        rows += batch.num_rows
                finally:
                    pf.close()
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(step, output, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ScoreResult(rows=rows, output=output)


def _read(
    pf: pq.ParquetFile, path: Path, batch_rows: int, columns: list[str], use_threads: bool, step: str
) -> Iterator[pa.RecordBatch]:
    """The file's batches; a read error is the input's (corrupt or unreadable), named by its path."""
    batches = pf.iter_batches(batch_size=batch_rows, columns=columns, use_threads=use_threads)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise StepInputError(step, f"input file {path} is corrupt or unreadable: {exc}") from exc
        yield batch


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


# --------------------------------------------------------------------------------------------- entry


def run(inv: Invocation) -> EntryResult:
    """Score this process's partition: the files of the table input, the model of the model input."""
    source, model_from = inv.upstream_of("table"), inv.upstream_of("model")
    if source is None or model_from is None:
        raise StepInputError(inv.step, "a score step needs a table input and a model input")
    model_input = inv.input(model_from)
    if model_input.model_dir is None:
        raise StepInputError(inv.step, f"the model input {model_from!r} names no model folder")
    version = model_input.summary.get("version")
    part = inv.partition or 0
    result = score_files(
        _loaded(Path(model_input.model_dir), inv.step),
        inv.input(source).files(),
        inv.output / "data" / f"part-{part:05d}.parquet",
        batch_rows=int(inv.config.get("batch_rows", DEFAULT_BATCH_ROWS)),
        run_id=inv.run_id,
        model_version=label(version),
        step=inv.step,
        threads=inv.threads,
    )
    return EntryResult(**partition_result(result.rows, version))


_LOADED: dict[tuple[str, str], LoadedModel] = {}  # a worker scoring several partitions loads the model once


def _loaded(model_dir: Path, step: str) -> LoadedModel:
    """The model in ``model_dir``; unpickled once per process while its files still have the digests its
    ``stepml_model.json`` records (checked every time; :func:`load_model` names the file that does not)."""
    meta = read_meta(model_dir, step=step)
    key = (str(model_dir.resolve()), meta.digest)
    intact = bool(meta.files) and all(
        (model_dir / rel).is_file() and file_digest(model_dir / rel) == digest for rel, digest in meta.files.items()
    )
    if key not in _LOADED or not intact:
        _LOADED.clear()
        _LOADED[key] = load_model(model_dir, step=step)
    return _LOADED[key]
