"""The gate on a laptop: the comparison (``steps.gate.core.decide``) and the project's model registry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stepml.errors import GateError, StepExecutionError
from stepml.sdk import LocalContext, StepResult, read_json
from steps.gate.core import GateConfig, decide
from steps.gate.spec import GateStep
from steps.gate.summary import detail, summary

if TYPE_CHECKING:
    from stepml.store.objects import Store


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, GateStep)
    spec_ctx = ctx.pipeline.context(ctx.name)
    train_step = ctx.upstream_of("model")
    assert train_step is not None
    train = ctx.upstream[train_step]
    value = float(train["summary"]["value"])
    config = GateConfig(**step.settings(spec_ctx))
    name = step.model_name(spec_ctx)
    registry = ctx.registry.get(name)
    champion = registry.champion()
    planned = ctx.step.resolved
    if (champion or {}).get("digest") != (planned or {}).get("digest"):
        raise StepExecutionError(
            ctx.name,
            f"the champion of model {name!r} changed since this run was planned "
            f"(v{(planned or {}).get('version')} -> v{(champion or {}).get('version')}); run again",
        )
    is_champion = champion is not None and champion.get("train_key") == train["key"]
    champion_value = float(champion["value"]) if champion and not is_champion else None
    decision = decide(value, champion_value, config, is_champion=is_champion)
    model = train["summary"]["model"]
    entry = {
        "train_key": train["key"],
        "digest": model.get("digest"),
        "pipeline": ctx.pipeline.name,
        "step": train_step,
        "metric": config.metric,
        "value": value,
        "metrics": train["summary"].get("metrics", {}),
    }
    manual = step.approval == "manual" and not is_champion
    status = ("pending" if manual else "approved") if decision.passed else "rejected"
    registered = registry.register(
        entry, source_prefix=f"{train['prefix']}/model", status=status, promote=decision.passed and not manual
    )
    reasons = list(decision.reasons)
    if manual and decision.passed:
        reasons.append(
            f"v{registered['version']} awaits approval: stepml models approve {name} {registered['version']}"
        )
    if (not decision.passed or manual) and champion is None:
        raise GateError(ctx.name, "; ".join(reasons) + "; there is no champion to fall back to")
    out = summary(
        passed=decision.passed and not manual,
        reasons=reasons,
        candidate={**_version(ctx, registered), "train_key": train["key"]},
        champion=_version(ctx, champion) if champion is not None else None,
    )
    out["model"]["name"] = name
    (ctx.out_dir / "decision.json").write_text(json.dumps(out, indent=2))
    return StepResult(summary=out, detail=detail(out))


def _version(ctx: LocalContext, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": entry["version"],
        "value": entry["value"],
        "uri": ctx.store.uri(entry["model_prefix"]),
        "digest": entry.get("digest"),
    }


def read(store: Store, manifest: dict[str, Any]) -> dict[str, Any]:
    return read_json(store, manifest, "decision.json")
