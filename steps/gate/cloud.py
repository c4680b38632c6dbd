"""The gate in the Lambda handlers: the comparison (``decide``, the function the local run calls) and the record
of the decision (commit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepml.cloud.handlers.models import package_digest
from stepml.errors import StepExecutionError
from steps.gate.core import GateConfig, decide
from steps.gate.summary import detail, summary

if TYPE_CHECKING:
    from stepml.cloud.handlers.context import FinishContext


def _version(arn: str | None) -> int | None:
    tail = (arn or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def decide_event(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    candidate = event["candidate"]
    champion = event.get("champion") or {}
    meta = champion.get("metadata") or {}
    planned = (event.get("planned") or {}).get("resolved") or {}
    present = bool(champion.get("present"))
    current = package_digest(meta, champion.get("arn", ""), champion.get("model_uri", "")) if present else None
    if "planned" in event and current != planned.get("digest"):
        # the champion is in the gate's key: another run promoted a model since this run was planned
        raise StepExecutionError(
            str(event.get("step", "gate")),
            f"the champion of model {settings.get('model')!r} changed since this run was planned "
            f"(v{planned.get('version')} -> {champion.get('arn')}); run again",
        )
    is_champion = bool(champion.get("present")) and meta.get("train_key") == candidate.get("key")
    champion_value = float(meta["value"]) if champion.get("present") and not is_champion and "value" in meta else None
    decision = decide(
        float(candidate["summary"]["value"]), champion_value, GateConfig(**settings["gate"]), is_champion=is_champion
    )
    reasons = list(decision.reasons)
    if decision.passed and settings.get("approval") == "manual" and not is_champion:
        # stays PendingManualApproval: a person approves it (stepml models approve, or the SageMaker console)
        reasons.append(f"the candidate awaits manual approval in model package group of {settings.get('model')!r}")
        return {"passed": False, "reasons": reasons}
    return {"passed": decision.passed, "reasons": reasons}


ACTIONS = {"decide": decide_event}


def finish(ctx: FinishContext) -> dict[str, Any]:
    train = ctx.upstream_of("model")
    decision = ctx.task.get("decision", {})
    champion = ctx.task.get("champion", {})
    candidate = {
        "version": _version(ctx.task.get("candidate", {}).get("arn")),
        "value": float(train["summary"]["value"]),
        "train_key": train["key"],
        "uri": train["summary"]["model"]["uri"],
        "digest": train["summary"]["model"].get("digest"),
    }
    before = None
    if champion.get("present"):
        meta = champion.get("metadata", {})
        before = {
            "version": _version(champion.get("arn")),
            "value": float(meta["value"]) if "value" in meta else None,
            "uri": champion.get("model_uri"),
            "digest": meta.get("digest"),
        }
    out = summary(
        passed=bool(decision.get("passed")), reasons=decision.get("reasons", []), candidate=candidate, champion=before
    )
    out["model"]["name"] = ctx.settings.get("model")
    ctx.put_json(f"{ctx.attempt}/decision.json", out)
    return {"rows": None, "summary": out, "detail": detail(out)}
