"""The Python API for notebooks: ``stepml.build(step, **params)``, ``stepml.load(step, run=...)``, ``stepml.runs()``.

Like ``gokart.build``: ``build`` runs whatever the step needs (using and filling the cache) and returns the step's
output as a Python object; ``load`` reads an output that a run (local or in AWS) already produced. What the object
is depends on the step's type (its ``read`` facet): a table is a DataFrame, train gives a ``TrainedModel``, a gate
its decision, a check its report; a user step's tables are DataFrames (a dict of them when it has named tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.app import open_project, read_output
from stepml.core.manifest import read_manifest
from stepml.errors import StepmlError
from stepml.spec import DEFAULT_SPEC, load_spec

if TYPE_CHECKING:
    from stepml.store.objects import Store


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
    from stepml.local.runner import LocalRunner

    pipeline, st = open_project(spec, root, store)
    runner = LocalRunner(pipeline, st)
    planned = runner.plan(params, targets={step}).step(step)
    runner.run(params, targets={step}, rerun={step} if rerun else set())
    m = read_manifest(st, pipeline.name, step, planned.key)
    if m is None:
        raise StepmlError(f"step {step!r} finished but its manifest is missing")
    return read_output(pipeline, st, m)


def load(
    step: str,
    *,
    run: str | None = None,
    spec: str | Path = DEFAULT_SPEC,
    root: str | None = None,
    store: Store | None = None,
) -> Any:
    """Read ``step``'s output from a finished run (default: the latest run that has it); computes nothing."""
    from stepml.local.runner import list_runs, load_run, read_run

    pipeline, st = open_project(spec, root, store)
    ids = [run] if run else list(reversed(list_runs(st, pipeline.name)))
    for run_id in ids:
        record = load_run(st, pipeline.name, run_id) if run else read_run(st, pipeline.name, run_id)
        if record is None:
            continue
        for s in record.steps:
            if s.name == step and s.status in {"ran", "cached"}:
                m = read_manifest(st, pipeline.name, step, s.key)
                if m is not None:
                    return read_output(pipeline, st, m)
    raise StepmlError(f"no finished output of step {step!r} in {'run ' + run if run else 'any run'} under {st.root}")


def runs(
    *, spec: str | Path = DEFAULT_SPEC, root: str | None = None, store: Store | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """The pipeline's runs under the artifact root (local ones and, on S3, executions in AWS), oldest first: each
    run's record as a dict (``run_id``, ``status``, ``params``, ``started_at``, ``steps`` with key and status...).
    ``last``: only the newest ``last`` runs. Computes nothing."""
    from stepml.local.runner import list_runs, read_run

    pipeline, st = open_project(spec, root, store)
    records = [r for run_id in list_runs(st, pipeline.name) if (r := read_run(st, pipeline.name, run_id)) is not None]
    return [r.to_json() for r in (records[-last:] if last else records)]


def models(
    *, spec: str | Path = DEFAULT_SPEC, root: str | None = None, store: Store | None = None
) -> list[dict[str, Any]]:
    """Every registered model version of the project (the registry under the artifact root): ``model``,
    ``version``, ``alias`` (champion / challenger / ""), ``status``, ``metric``, ``value``, ``metrics``,
    ``pipeline``, ``digest``, ``registered_at``. Computes nothing; ``pandas.DataFrame(stepml.models())`` tabulates."""
    from stepml.store.lock import Owner
    from stepml.store.models import Registries

    pipeline, st = open_project(spec, root, store)
    registries = Registries(st, Owner.current("api"), legacy={pipeline.name: pipeline.name})
    out: list[dict[str, Any]] = []
    for name in registries.names():
        registry = registries.get(name)
        champion, challenger = registry.champion(), registry.challenger()
        for v in registry.versions():
            alias = "champion" if champion and v["version"] == champion["version"] else ""
            alias = alias or ("challenger" if challenger and v["version"] == challenger["version"] else "")
            keys = ("version", "status", "metric", "value", "metrics", "pipeline", "digest", "registered_at")
            out.append({"model": name, "alias": alias, **{k: v.get(k) for k in keys}})
    return out


def fetch(
    sql: str | Path, *, spec: str | Path = DEFAULT_SPEC, warehouse: str | Path | None = None, **params: Any
) -> Any:
    """A reusable data-fetch task: a Trino-dialect query (text or a ``.sql`` path) with ``:name`` parameters,
    run on the local warehouse, returned as a DataFrame. Parameters the spec declares are typed as declared
    (``as_of="2026-04-01"`` becomes a date); others are passed as given.
    """
    from stepml.core.params import coerce

    pipeline = load_spec(spec)
    extract = pipeline.registry.get("extract")
    if extract is None:
        raise StepmlError("fetch needs the extract step type")
    run_fetch = extract.helper("fetch")
    declared = pipeline.spec.params
    typed = {k: coerce(declared[k].type, v, declared[k]) if k in declared else v for k, v in params.items()}
    path = Path(warehouse) if warehouse is not None else pipeline.resolve(pipeline.spec.warehouse.local.path)
    text = Path(sql) if str(sql).endswith(".sql") and not Path(sql).is_absolute() else sql
    if isinstance(text, Path) and not text.exists():
        text = pipeline.resolve(str(sql))
    return run_fetch(path, str(text), typed)
