"""Serving on a laptop: one ``python -m stepml.entry`` process (the same entry an ECS task runs in AWS); the
experiment's first record is written when it first serves, and checked whenever a run is planned."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from stepml.core.plan import canonical_json, digest
from stepml.entry import Input
from stepml.errors import StepInputError
from stepml.experiments import record as records
from stepml.sdk import LocalContext, StepResult
from steps.serve.spec import ENTRY, ServeStep


def read_record(store: Any, name: str) -> dict[str, Any] | None:
    key = records.record_key(name)
    if not store.exists(key):
        return None
    return records.parse(store.read_bytes(key), store.uri(key))


def lookup_resolver(pipeline: Any, *, clock: Callable[[], float], store: Any) -> Any:
    """The plan's ``experiment`` lookups: the spec's settings checked against the experiment's first record
    (:class:`stepml.errors.ExperimentChangedError` before anything runs when they differ)."""

    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        settings = dict(lookup["settings"])
        key = records.record_key(str(settings["experiment"]))
        records.check(settings, read_record(store, str(settings["experiment"])), store.uri(key))
        return {"digest": digest(canonical_json(settings)), "experiment": settings["experiment"]}

    return resolve


def inputs(ctx: LocalContext, config: Mapping[str, Any]) -> dict[str, Input]:
    out: dict[str, Input] = {}
    parts = (ctx.step.resolved or {}).get("parts", {})
    if config.get("input"):
        out[config["input"]] = ctx.input(config["input"])
    for name, source in config["variants"].items():
        if "table" in source:
            out[source["table"]] = ctx.input(source["table"])
            continue
        ref = source["model"]
        if ref in parts:  # a registered model the plan resolved (its digest is in the key)
            found = parts[ref]
            folder = ctx.model_dir(found["uri"])
            out[ref] = Input(kinds=("model",), model_dir=str(folder), summary={"version": found["version"]})
        elif ref in ctx.upstream:  # a gate/train step's model
            model = ctx.upstream[ref]["summary"].get("model")
            if not model:
                raise StepInputError(ctx.name, f"variant {name!r}: step {ref!r} records no model")
            out[ref] = ctx.input(
                ref, model_dir=ctx.model_dir(model["uri"]), with_tables=False, summary={"version": model.get("version")}
            )
        else:
            raise StepInputError(ctx.name, f"variant {name!r}: its model {ref!r} was not resolved")
    return out


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, ServeStep)
    config = step.entry_config(ctx.pipeline.context(ctx.name))
    invocation = ctx.invocation(ENTRY, config, inputs(ctx, config), threads=step.resources.threads)
    result = ctx.run_entry(invocation)
    settings = config["settings"]
    name = str(settings["experiment"])
    started = datetime.now(tz=UTC).isoformat(timespec="seconds")
    record = records.new_record(settings, run_id=ctx.run_id, started_at=started, coverage=float(config["coverage"]))
    key = records.record_key(name)
    if not ctx.store.create_exclusive(key, records.encode(record)):  # not the first: it must still agree
        records.check(settings, read_record(ctx.store, name), ctx.store.uri(key))
    served = records.served_entry(
        name,
        pipeline=ctx.pipeline.name,
        step=ctx.name,
        key=ctx.step.key,
        run_id=ctx.run_id,
        at=started,
        assignments=ctx.output_uri("tables/assignments"),
    )
    ctx.store.write_bytes(records.served_key(name, ctx.run_id, ctx.step.key), records.encode(served))
    return result


def committed(store: Any, manifest: Mapping[str, Any]) -> None:
    """Publish the committed serving table where the serving side reads it: ``serving/<experiment>/
    served_date=<day>/<run>-<key>.parquet`` (the layout the Athena table reads in AWS) and ``latest.json``."""
    from steps.serve.entry import run_time

    name = str(manifest["summary"]["experiment"])
    run_id, key = str(manifest["run_id"]), str(manifest["key"])
    day = run_time(run_id)[:10]
    target = records.published_key(name, day, run_id, key)
    store.write_bytes(target, store.read_bytes(f"{manifest['prefix']}/{records.PUBLISHED}"))
    latest = records.latest_entry(name, run_id=run_id, key=key, served_date=day, published=store.uri(target))
    store.write_bytes(records.latest_key(name), records.encode(latest))
