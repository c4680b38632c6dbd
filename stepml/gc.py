"""``stepml gc``: remove the step outputs nothing refers to any more (``stepml.core.gc`` decides which).

Dry by default: :func:`collect_garbage` says what it would remove and how many bytes; ``delete=True`` removes
it. Besides outputs: run records past the retention window (never a running one, never the newest
``keep_runs``), failure logs of runs that started before it, and - for the online tests this pipeline serves - the
served-log entries whose output is removed and published serving tables of days before it (never the latest).
The registry (and its model copies), metrics and experiment records are never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepml.core import gc, layout
from stepml.core import manifest as mf
from stepml.local.runner import list_runs, read_run
from stepml.store.lock import Owner, holder_alive
from stepml.store.models import Registries
from stepml.store.objects import Store


@dataclass
class GcReport:
    removed: dict[str, int] = field(default_factory=dict)  # store URI of each output folder -> its bytes
    records: dict[str, int] = field(default_factory=dict)  # run records, failure logs, experiment leftovers -> bytes
    kept: dict[str, str] = field(default_factory=dict)  # store URI -> why it stays
    deleted: bool = False

    @property
    def bytes(self) -> int:
        return sum(self.removed.values()) + sum(self.records.values())


def collect_garbage(
    store: Store,
    pipeline: str,
    *,
    retention_days: float = 30.0,
    delete: bool = False,
    clock: Callable[[], float] = time.time,
    keep_runs: int = 20,
) -> GcReport:
    steps_root = layout.join(pipeline, "steps")
    sizes: dict[gc.Output, int] = {}
    for key in store.list(steps_root):
        parts = key[len(steps_root) + 1 :].split("/")
        if len(parts) >= 2:
            output = (parts[0], parts[1])
            sizes[output] = sizes.get(output, 0) + (store.size(key) or 0)
    runs = [r.to_json() for i in list_runs(store, pipeline) if (r := read_run(store, pipeline, i)) is not None]

    def parents(step: str, key: str) -> dict[str, str]:
        m = mf.read_manifest(store, pipeline, step, key)
        return dict(m.get("parents", {})) if m is not None else {}

    pinned = _pinned(store, pipeline, set(sizes), clock())
    found = gc.collect(sizes, runs, parents, pinned=pinned, now=clock(), retention_s=retention_days * 86_400)
    report = GcReport(kept={store.uri(layout.step_prefix(pipeline, *o)): why for o, why in found.keep.items()})
    for output in found.remove:
        report.removed[store.uri(layout.step_prefix(pipeline, *output))] = sizes[output]
        if delete:
            store.delete_prefix(layout.step_prefix(pipeline, *output))
    now, retention_s = clock(), retention_days * 86_400
    doomed: list[str] = []  # prefixes or keys besides outputs
    for run_id in gc.old_runs(runs, now=now, retention_s=retention_s, keep_last=keep_runs):
        doomed.append(layout.run_key(pipeline, run_id))
    failures = layout.join(pipeline, "failures")
    failed_runs = sorted({k[len(failures) + 1 :].split("/")[0] for k in store.list(failures)})
    doomed += [layout.join(failures, r) for r in gc.old_failures(failed_runs, now=now, retention_s=retention_s)]
    removed = {layout.step_prefix(pipeline, *o) for o in found.remove}
    doomed += _experiment_leftovers(store, pipeline, removed, now=now, retention_days=retention_days)
    for item in doomed:
        keys = store.list(item)  # a folder (or, on a local store, a file)
        if keys:
            report.records[store.uri(item)] = sum(store.size(k) or 0 for k in keys)
            if delete:
                store.delete_prefix(item)
            continue
        got = store.read_versioned(item)  # one object on S3: deleted only as read (no other writer's version)
        if got is not None:
            report.records[store.uri(item)] = len(got[0])
            if delete:
                store.delete_if(item, got[1])
    report.deleted = delete
    return report


def _experiment_leftovers(
    store: Store, pipeline: str, removed: set[str], *, now: float, retention_days: float
) -> list[str]:
    """Served-log entries of this pipeline whose output goes, and published serving days past the window."""
    import datetime as dt
    import json

    out: list[str] = []
    served_by_us: set[str] = set()
    for key in store.list("experiments"):
        if "/served/" not in key or not key.endswith(".json"):
            continue
        try:
            entry = json.loads(store.read_bytes(key))
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("pipeline") != pipeline:
            continue
        name = str(entry.get("experiment"))
        served_by_us.add(name)
        output = store.key_of(str(entry.get("assignments", "")))
        if output is not None and any(layout.is_inside(output, p) for p in removed):
            out.append(key)
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date().isoformat()
    for name in sorted(served_by_us):
        prefix = f"serving/{name}"
        days = sorted({k.split("served_date=")[1].split("/")[0] for k in store.list(prefix) if "served_date=" in k})
        latest: list[str] = []
        if store.exists(f"{prefix}/latest.json"):
            try:
                latest = [str(json.loads(store.read_bytes(f"{prefix}/latest.json")).get("served_date"))]
            except ValueError:
                latest = []
        out += [
            f"{prefix}/served_date={d}"
            for d in gc.old_days(days, today=today, retention_days=retention_days, keep=latest)
        ]
    return out


def _pinned(store: Store, pipeline: str, outputs: set[gc.Output], now: float) -> dict[gc.Output, str]:
    """Outputs kept whatever the runs say: trained models the registry holds, steps whose lock is held."""
    import json

    pinned: dict[gc.Output, str] = {}
    versions = Registries(store, Owner.current("gc")).versions()  # every model of the project
    train_keys = {str(v.get("train_key")): int(v["version"]) for v in versions}
    for step, key in outputs:
        if key in train_keys:
            pinned[(step, key)] = f"model registry version {train_keys[key]}"
        got = store.read_versioned(layout.lock_key(pipeline, step, key))
        if got is not None:
            try:
                info: Any = json.loads(got[0])
            except ValueError:
                info = None
            if isinstance(info, dict) and holder_alive(info, now=now):
                pinned[(step, key)] = f"locked by run {info.get('run_id')}"
    return pinned
