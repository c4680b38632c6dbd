"""A read-out on a laptop: ``python -m stepml.entry`` over the exposure/outcome table (and the serve step's lists);
its metric record goes to the history the alarms read, as a check's does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepml.sdk import Input, LocalContext, StepResult, read_json
from steps.readout.entry import HISTORY, READOUT
from steps.readout.spec import ENTRY, ReadoutStep

if TYPE_CHECKING:
    from stepml.store.objects import Store


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, ReadoutStep)
    inputs: dict[str, Input] = {name: ctx.input(name) for name in step.needs}
    config = step.entry_config(ctx.pipeline.context(ctx.name))
    result = ctx.run_entry(ctx.invocation(ENTRY, config, inputs, threads=step.resources.threads))
    from monitoring.metrics import file_history

    file_history(ctx.store, ctx.pipeline.name, ctx.run_id, ctx.out_dir / HISTORY)
    return result


def read(store: Store, manifest: dict[str, Any]) -> dict[str, Any]:
    """``stepml.load("readout")``: the read-out report (metrics, SRM, multiple exposure, preference, agreement)."""
    return read_json(store, manifest, READOUT)
