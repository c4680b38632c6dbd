"""``stepml gc``: remove the step outputs nothing refers to any more (``stepml.core.gc`` decides which).

Dry by default: :func:`collect_garbage` says what it would remove and how many bytes; ``delete=True`` removes
it. Run records, the registry (and its model copies), metrics and failure logs are never touched.
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
    kept: dict[str, str] = field(default_factory=dict)  # store URI -> why it stays
    deleted: bool = False

    @property
    def bytes(self) -> int:
        return sum(self.removed.values())


def collect_garbage(
    store: Store,
    pipeline: str,
    *,
    retention_days: float = 30.0,
    delete: bool = False,
    clock: Callable[[], float] = time.time,
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
    report.deleted = delete
    return report


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
