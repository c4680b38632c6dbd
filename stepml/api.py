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
    sql: str | Path,
    *,
    spec: str | Path = DEFAULT_SPEC,
    warehouse: str | Path | None = None,
    engine: str | None = None,
    root: str | None = None,
    stage: str = "dev",
    workgroup: str | None = None,
    athena_client: Any = None,
    **params: Any,
) -> Any:
    """A reusable data-fetch task: a Trino-dialect query (text or a ``.sql`` path) with ``:name`` parameters,
    returned as a DataFrame. Parameters the spec declares are typed as declared (``as_of="2026-04-01"`` becomes a
    date); others are passed as given.

    Locally it runs on the DuckDB warehouse file. ``engine="athena"`` - or an ``s3://`` ``root`` (the deployed
    artifact bucket) - runs the same rendered SQL on Athena: the spec's ``warehouse.athena`` database, in the
    workgroup the data stack created for ``stage`` (``<workgroup>-<stage>``; ``workgroup=`` overrides), results
    under ``<root bucket>/athena-results/`` when ``root`` is given.
    """
    from stepml.core.params import coerce
    from stepml.errors import Issue, ParamError

    pipeline = load_spec(spec)
    extract = pipeline.registry.get("extract")
    if extract is None:
        raise StepmlError("fetch needs the extract step type")
    declared = pipeline.spec.params
    typed = {k: coerce(declared[k].type, v, declared[k]) if k in declared else v for k, v in params.items()}
    text = Path(sql) if str(sql).endswith(".sql") and not Path(sql).is_absolute() else sql
    if isinstance(text, Path) and not text.exists():
        text = pipeline.resolve(str(sql))
    chosen = engine or ("athena" if root and root.startswith("s3://") else "duckdb")
    if chosen == "duckdb":
        path = Path(warehouse) if warehouse is not None else pipeline.resolve(pipeline.spec.warehouse.local.path)
        return extract.helper("fetch")(path, str(text), typed)
    athena = pipeline.spec.warehouse.athena
    if chosen != "athena" or athena is None:
        expected = "'duckdb' or 'athena'" if chosen != "athena" else "a warehouse.athena section in the spec"
        raise ParamError([Issue("fetch", f"engine {chosen!r}: expected {expected}")])
    query = Path(text).read_text() if str(text).endswith(".sql") else str(text)
    if athena_client is None:
        import boto3

        athena_client = boto3.client("athena")
    output = f"s3://{root.removeprefix('s3://').split('/')[0]}/athena-results/" if root else None
    return extract.helper("fetch_athena")(
        athena_client,
        query,
        typed,
        database=athena.database,
        catalog=athena.catalog,
        workgroup=workgroup or athena.deployed_workgroup(stage),
        output_location=output,
    )


def experiments(
    *, spec: str | Path = DEFAULT_SPEC, root: str | None = None, store: Store | None = None
) -> list[dict[str, Any]]:
    """The spec's experiments: ``experiment``, ``kind``, ``variants`` (weights), ``coverage``, ``record`` (its first
    persisted record, None before it first served) and ``serves`` (how many serves committed). Computes nothing."""
    from stepml.experiments import record as records

    pipeline, st = open_project(spec, root, store)
    out: list[dict[str, Any]] = []
    for name, exp in pipeline.spec.experiments.items():
        key = records.record_key(name)
        record = records.parse(st.read_bytes(key), st.uri(key)) if st.exists(key) else None
        served = [k for k in st.list(f"experiments/{name}/served") if k.endswith(".json")]
        out.append(
            {
                "experiment": name,
                "kind": exp.kind,
                "variants": exp.weights(),
                "coverage": exp.coverage,
                "settings": pipeline.spec.experiment_settings(name),
                "record": record,
                "serves": len(served),
            }
        )
    return out


def assignments(
    experiment: str, *, spec: str | Path = DEFAULT_SPEC, root: str | None = None, store: Store | None = None
) -> Any:
    """Every unit an experiment has served, one row each: ``experiment, salt, unit, variant, bucket,
    in_experiment, first_assigned`` (the earliest serve that included it, over every serve the experiment logged
    under ``experiments/<name>/served/``). A DataFrame; computes nothing."""
    import json

    import pandas as pd

    _, st = open_project(spec, root, store)
    frames = []
    for key in sorted(st.list(f"experiments/{experiment}/served")):
        entry = json.loads(st.read_bytes(key))
        prefix = st.key_of(str(entry["assignments"]))
        if prefix is None:
            raise StepmlError(f"{st.uri(key)} points outside the artifact root: {entry['assignments']}")
        files = [k for k in st.list(prefix) if k.endswith(".parquet")]
        for f in files:
            local = st.local_path(f)
            frame = pd.read_parquet(local) if local is not None else pd.read_parquet(st.uri(f))
            frames.append(frame.assign(first_assigned=str(entry["at"])))
    if not frames:
        raise StepmlError(
            f"experiment {experiment!r} has not served yet (nothing under experiments/{experiment}/served/)"
        )
    every = pd.concat(frames, ignore_index=True)
    every = every.sort_values(["unit", "first_assigned"], kind="mergesort")
    first = every.drop_duplicates("unit", keep="first")
    columns = ["experiment", "salt", "unit", "variant", "bucket", "in_experiment", "first_assigned"]
    return first[columns].reset_index(drop=True)


def dry_run(
    experiment: str,
    *,
    step: str | None = None,
    coverage: float | None = None,
    spec: str | Path = DEFAULT_SPEC,
    root: str | None = None,
    store: Store | None = None,
) -> dict[str, Any]:
    """The split an experiment would make on past data, before it launches: the latest output of ``step`` (default:
    its serve step's input table) assigned as the serve step would (salt, layer, coverage - or ``coverage`` to try
    another - and audience). Returns ``{"units", "in_experiment", "split": {variant: units}, "expected": {variant:
    share}, "srm_p_value"}``. Nothing is served or recorded."""
    from stepml.experiments.assign import assign, unit_text

    pipeline, st = open_project(spec, root, store)
    if experiment not in pipeline.spec.experiments:
        raise StepmlError(f"unknown experiment {experiment!r}; experiments: {sorted(pipeline.spec.experiments)}")
    exp = pipeline.spec.experiments[experiment]
    if step is None:
        serving = [
            n for n, s in pipeline.steps.items() if getattr(s, "experiment", None) == experiment and s.type == "serve"
        ]
        if not serving:
            raise StepmlError(f"experiment {experiment!r} has no serve step; name a table step (--step)")
        step = pipeline.steps[serving[0]].table_input(pipeline.context(serving[0]))  # type: ignore[attr-defined]
        if step is None:
            raise StepmlError(f"the serve step of {experiment!r} reads no table; name one (--step)")
    table = load(step, spec=spec, root=root, store=st)
    if exp.unit not in table.columns:
        raise StepmlError(f"step {step!r}'s table has no unit column {exp.unit!r} (columns: {list(table.columns)})")
    settings = pipeline.spec.experiment_settings(experiment)
    found = assign(table[exp.unit].to_numpy(), settings, exp.coverage if coverage is None else coverage)
    if exp.audience is not None:
        allowed = {unit_text(u) for u in table.loc[table[exp.audience.column].isin(exp.audience.values), exp.unit]}
        found = [a for a in found if a.unit in allowed]
    inside = [a for a in found if a.in_experiment]
    split = {v: sum(1 for a in inside if a.variant == v) for v in exp.variants}
    result: dict[str, Any] = {
        "experiment": experiment,
        "step": step,
        "units": len(found),
        "in_experiment": len(inside),
        "split": split,
        "expected": exp.weights(),
    }
    if exp.kind == "ab" and inside:
        from stepml.experiments.stats import srm_test

        positive = {v: w for v, w in exp.weights().items() if w > 0}
        result["srm_p_value"] = srm_test({v: split[v] for v in positive}, positive).p_value
    return result


def serving(
    experiment: str,
    *,
    run: str | None = None,
    duckdb: str | Path | None = None,
    table: str | None = None,
    spec: str | Path = DEFAULT_SPEC,
    root: str | None = None,
    store: Store | None = None,
) -> Any:
    """The serving table of an experiment (its serve step's ``data/``) from the latest run that served it (or
    ``run``), as a DataFrame; with ``duckdb``, also written to that DuckDB file as ``table`` (default: the
    experiment's name with ``_`` for ``-``), replacing the previous one in one transaction - the local stand-in
    for the table a serving side reads."""
    import re

    pipeline, st = open_project(spec, root, store)
    steps = [n for n, s in pipeline.steps.items() if s.type == "serve" and getattr(s, "experiment", None) == experiment]
    if not steps:
        raise StepmlError(f"no serve step serves experiment {experiment!r} in {pipeline.path}")
    tables = load(steps[0], run=run, spec=spec, root=root, store=st)
    frame = tables[""] if isinstance(tables, dict) else tables  # the serve step's main table
    if duckdb is not None:
        import duckdb as ddb

        name = table or experiment.replace("-", "_")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise StepmlError(f"table name {name!r} is not a plain SQL identifier")
        con = ddb.connect(str(duckdb))
        try:
            con.register("serving_frame", frame)
            con.execute("BEGIN")
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM serving_frame")
            con.execute("COMMIT")
        finally:
            con.close()
    return frame
