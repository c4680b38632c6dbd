"""Commands and hooks that step types add to the command line (their ``cli`` facet).

A type's cli module may define ``register(app)`` (add commands) and ``after_run(record, pipeline, store,
console)`` (print something below a run's summary: the check type shows the alarms' states).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.core.steptypes import Registry, load

if TYPE_CHECKING:
    import typer

    from stepml.core.runs import RunRecord
    from stepml.spec.pipeline import Pipeline
    from stepml.store.objects import Store


def cli_modules(registry: Registry | None = None) -> list[Any]:
    return [load(t.cli) for t in (registry or Registry()).types() if t.cli]


def register(app: typer.Typer) -> None:
    for module in cli_modules():
        if hasattr(module, "register"):
            module.register(app)


def after_run(record: RunRecord, pipeline: Pipeline, store: Store) -> None:
    from stepml.cli.common import console

    for module in {load(t.cli) for t in pipeline.types.values() if t.cli}:
        if hasattr(module, "after_run"):
            module.after_run(record, pipeline, store, console)
