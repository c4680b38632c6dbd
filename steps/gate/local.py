"""The gate on a laptop: the comparison (``steps.gate.core.decide``) and the local model registry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stepml.errors import GateError
from stepml.sdk import LocalContext, StepResult, read_json
from steps.gate.core import GateConfig, decide
from steps.gate.spec import GateStep
from steps.gate.summary import detail, summary

if TYPE_CHECKING:
    from stepml.store.objects import Store


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, GateStep)
    train_step = ctx.upstream_of("model")
    assert train_step is not None
    train = ctx.upstream[train_step]
    value = float(train["summary"]["value"])
    config = GateConfig(**step.settings(ctx.pipeline.context(ctx.name)))
    champion = ctx.registry.champion()
    is_champion = champion is not None and champion.get("train_key") == train["key"]
    champion_value = float(champion["value"]) if champion and not is_champion else None
    decision = decide(value, champion_value, config, is_champion=is_champion)
    entry = {"train_key": train["key"], "metric": config.metric, "value": value}
    entry["status"] = "approved" if decision.passed else "rejected"
    registered = ctx.registry.register(entry, source_prefix=f"{train['prefix']}/model", promote=decision.passed)
    if not decision.passed and champion is None:
        raise GateError(ctx.name, "; ".join(decision.reasons) + "; there is no champion to fall back to")
    out = summary(
        passed=decision.passed,
        reasons=decision.reasons,
        candidate={**_version(ctx, registered), "train_key": train["key"]},
        champion=_version(ctx, champion) if champion is not None else None,
    )
    (ctx.out_dir / "decision.json").write_text(json.dumps(out, indent=2))
    return StepResult(summary=out, detail=detail(out))


def _version(ctx: LocalContext, entry: dict[str, Any]) -> dict[str, Any]:
    return {"version": entry["version"], "value": entry["value"], "uri": ctx.store.uri(entry["model_prefix"])}


def read(store: Store, manifest: dict[str, Any]) -> dict[str, Any]:
    return read_json(store, manifest, "decision.json")
