"""``stepml explain STEP``: a step's key components, the source files its code digest covers, and why it would hit
or miss the cache."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from stepml.core import manifest as mf
from stepml.spec import Pipeline
from stepml.store.objects import Store


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts or 0, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def diff_components(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two key-component records."""
    out = []
    for part in ("params", "config", "upstream"):
        a, b = old.get(part) or {}, new.get(part) or {}
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                what = {"params": "parameter", "config": "config", "upstream": "upstream key of"}[part]
                out.append(f"{what} {k}: {_show(a.get(k, '<absent>'))} -> {_show(b.get(k, '<absent>'))}")
    if old.get("resolved") != new.get("resolved"):
        out.append(
            f"resolved: {str(old.get('resolved'))[:12]} -> {str(new.get('resolved'))[:12]} (the data version of the "
            "sources, or the model version the step looks up, changed)"
        )
    if old.get("code") != new.get("code"):
        out.append(
            f"code digest: {str(old.get('code'))[:12]} -> {str(new.get('code'))[:12]} (the step's source changed)"
        )
    return out


def explain_step(pipeline: Pipeline, store: Store, step: str, params: dict[str, Any]) -> list[str]:
    from stepml.local.runner import LocalRunner

    plan = LocalRunner(pipeline, store).plan(params)  # model lookups resolved against the registry
    planned = plan.step(step)
    c = planned.components
    sources = pipeline.code_digest(step).files(pipeline.project_root)
    lines = [
        f"[bold]{step}[/] ({planned.type}) key [bold]{planned.key}[/]",
        "key components:",
        f"  params:   {_show(c['params'])}",
        f"  config:   {_show(c['config'])}",
        f"  code:     {c['code']} ({len(sources)} source files)",
        *(f"            {path}" for path in sources),
        f"  upstream: {_show(c['upstream'])}",
    ]
    if "resolved" in c:  # what the plan looked up: a data version, a model version
        found = planned.resolved or {}
        shown = {k: v for k, v in found.items() if k not in ("digest", "uri")}
        took = f" (probed in {found['seconds']} s)" if "seconds" in found else ""
        lines.append(f"  resolved: {c['resolved']}{took} from {_show(shown)}")
    hit = mf.read_manifest(store, plan.pipeline, step, planned.key)
    if hit is not None:
        damaged = mf.damaged_files(store, hit)
        if damaged:
            lines.append(f"[red]MISS[/]: the output exists but files are missing or damaged: {', '.join(damaged)}")
        else:
            lines.append(
                f"[cyan]HIT[/]: committed by run {hit.get('run_id')} at {_when(hit.get('finished_at'))} "
                f"-> {store.uri(hit['prefix'])}"
            )
        return lines
    previous = mf.list_manifests(store, plan.pipeline, step)
    if not previous:
        lines.append("[yellow]MISS[/]: this step has never been computed under this artifact root")
        return lines
    last = previous[0]
    lines.append(
        f"[yellow]MISS[/]: differs from the latest computed output (key {last['key']}, run {last.get('run_id')}, "
        f"{_when(last.get('finished_at'))}) in:"
    )
    lines.extend(f"  - {d}" for d in diff_components(last.get("components", {}), c) or ["(no component differs)"])
    return lines
