"""The Python API for notebooks: ``stepml.build(step, **params)``, ``stepml.load(step, run=...)``, ``stepml.runs()``.

Like ``gokart.build``: ``build`` runs whatever the step needs (using and filling the cache) and returns the step's
output as a Python object; ``load`` reads an output that a run (local or in AWS) already produced.

Outputs by step type: extract -> DataFrame; train -> :class:`TrainedModel`; gate -> decision dict;
score -> DataFrame of predictions; check -> report dict.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepml import manifest as mf
from stepml.errors import StepmlError
from stepml.spec import DEFAULT_SPEC, Pipeline, load_spec
from stepml.store import Store, join


@dataclass
class TrainedModel:
    model: Any  # the fitted scikit-learn estimator
    metrics: dict[str, Any]
    meta: dict[str, Any]
    profile: dict[str, Any]
    version: str  # the train step's key

    def predict(self, frame: Any) -> Any:
        return self.model.predict(frame[self.meta["features"]])


def _open(spec: str | Path, root: str | None, store: Store | None) -> tuple[Pipeline, Store]:
    from stepml.cli import make_store

    pipeline = load_spec(spec)
    if store is not None:
        return pipeline, store
    configured = root or pipeline.spec.artifact_root
    if not configured.startswith("s3://") and not Path(configured).is_absolute():
        configured = str(pipeline.base_dir / configured)
    return pipeline, make_store(configured)


def _local_files(store: Store, keys: list[str], cache: Path) -> list[Path]:
    out = []
    for k in keys:
        p = store.local_path(k)
        if p is None:
            p = cache / k
            if not p.exists():
                store.get_file(k, p)
        out.append(p)
    return out


def read_output(store: Store, manifest: dict[str, Any]) -> Any:
    """The Python object behind a committed output."""
    cache = Path(tempfile.gettempdir()) / "stepml-cache"
    kind = manifest["type"]
    if kind in {"extract", "score"}:
        import pandas as pd
        import pyarrow.parquet as pq

        files = _local_files(store, mf.output_files(manifest), cache)
        if not files:
            return pd.DataFrame()
        return pq.ParquetDataset([str(f) for f in files]).read().to_pandas()
    prefix = manifest["prefix"]
    if kind == "train":
        import joblib

        keys = [join(prefix, f["path"]) for f in manifest["files"] if f["path"].startswith("model/")]
        by_name = {p.name: p for p in _local_files(store, keys, cache)}
        return TrainedModel(
            model=joblib.load(by_name["model.joblib"]),
            metrics=json.loads(by_name["metrics.json"].read_text()),
            meta=json.loads(by_name["model_meta.json"].read_text()),
            profile=json.loads(by_name["profile.json"].read_text()) if "profile.json" in by_name else {},
            version=manifest["key"],
        )
    name = {"gate": "decision.json", "check": "report.json"}[kind]
    data: dict[str, Any] = json.loads(store.read_bytes(join(prefix, name)))
    return data


def build(
    step: str,
    *,
    spec: str | Path = DEFAULT_SPEC,
    root: str | None = None,
    store: Store | None = None,
    rerun: bool = False,
    **params: Any,
) -> Any:
    """Run what ``step`` needs (cached steps are skipped) and return its output."""
    from stepml.runner import LocalRunner

    pipeline, st = _open(spec, root, store)
    runner = LocalRunner(pipeline, st)
    plan = runner.plan(params)
    planned = plan.step(step)
    runner.run(params, targets={step}, rerun={step} if rerun else set())
    m = mf.read_manifest(st, plan.pipeline, step, planned.key)
    if m is None:
        raise StepmlError(f"step {step!r} finished but its manifest is missing")
    return read_output(st, m)


def load(
    step: str,
    *,
    run: str | None = None,
    spec: str | Path = DEFAULT_SPEC,
    root: str | None = None,
    store: Store | None = None,
) -> Any:
    """Read ``step``'s output from a finished run (default: the latest run that has it); computes nothing."""
    from stepml.runner import list_runs, load_run

    pipeline, st = _open(spec, root, store)
    ids = [run] if run else list(reversed(list_runs(st, pipeline.name)))
    for run_id in ids:
        record = load_run(st, pipeline.name, run_id)
        if record is None:
            continue
        for s in record.steps:
            if s.name == step and s.status in {"ran", "cached"}:
                m = mf.read_manifest(st, pipeline.name, step, s.key)
                if m is not None:
                    return read_output(st, m)
    raise StepmlError(f"no finished output of step {step!r} in {'run ' + run if run else 'any run'} under {st.root}")


def runs(
    *, spec: str | Path = DEFAULT_SPEC, root: str | None = None, store: Store | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """The pipeline's runs under the artifact root (local ones and, on S3, executions in AWS), oldest first: each
    run's record as a dict (``run_id``, ``status``, ``params``, ``started_at``, ``steps`` with key and status...).
    ``last``: only the newest ``last`` runs. Computes nothing."""
    from stepml.runner import RunRecord, list_runs

    pipeline, st = _open(spec, root, store)
    ids = list_runs(st, pipeline.name)
    return [
        RunRecord.from_json(json.loads(st.read_bytes(mf.run_key(pipeline.name, run_id)))).to_json()
        for run_id in (ids[-last:] if last else ids)
    ]


def fetch(
    sql: str | Path, *, spec: str | Path = DEFAULT_SPEC, warehouse: str | Path | None = None, **params: Any
) -> Any:
    """A reusable data-fetch task: a Trino-dialect query (text or a ``.sql`` path) with ``:name`` parameters,
    run on the local warehouse, returned as a DataFrame. Parameters the spec declares are typed as declared
    (``as_of="2026-04-01"`` becomes a date); others are passed as given.
    """
    from stepml.params import coerce
    from steps.extract import fetch as run_fetch

    pipeline = load_spec(spec)
    declared = pipeline.spec.params
    typed = {k: coerce(declared[k].type, v, declared[k]) if k in declared else v for k, v in params.items()}
    path = Path(warehouse) if warehouse is not None else pipeline.resolve(pipeline.spec.warehouse.local.path)
    text = Path(sql) if str(sql).endswith(".sql") and not Path(sql).is_absolute() else sql
    if isinstance(text, Path) and not text.exists():
        text = pipeline.resolve(str(sql))
    return run_fetch(path, str(text), typed)
