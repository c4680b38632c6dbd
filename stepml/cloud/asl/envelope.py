"""The envelope every step gets, whatever its type: cache check, lock, recheck, the type's states, commit, release.

    <s>: cache check      aws-sdk:s3:getObject <pipeline>/steps/<s>/<key>/_manifest.head.json (the manifest
                          without its file list: a bounded size, whatever the number of files)
    <s>: cache valid?     Choice (schema, key) -> <s>: cached (Pass) | <s>: lock
    <s>: lock             dynamodb:updateItem, condition: free, ours, or lease expired
       contention ->      wait for the holder's release without polling (stepml.cloud.asl.locks)
    <s>: recheck          the manifest again, under the lock (another run may have committed meanwhile)
    <s>: <type states>    built by the step type's states facet (stepml.cloud.asl.steps.StepStates)
    <s>: commit           Lambda: the type's cloud facet finishes the output; the manifest is written last
    <s>: release lock     dynamodb:deleteItem (condition: ours), then its waiters are woken
    any failure -> <s>: release lock (failed) -> the step's failure target (b.fail: Notify failure at the top
                   level, the branch's Fail state inside a Parallel branch)

A fully cached step costs three state transitions: cache check, cache valid?, cached. ``after`` None ends the
branch the step is the last of (no extra transition).
"""

from __future__ import annotations

from typing import Any

from stepml.cloud.asl import builder as asl
from stepml.cloud.asl import locks
from stepml.cloud.asl.steps import StepStates
from stepml.core.manifest import READABLE_SCHEMAS

NOTIFY_FAILURE = "Notify failure"


def _escape(text: str) -> str:
    """``text`` as a literal in a StringMatches pattern."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def step_states(b: StepStates, after: str | None) -> None:
    """Add ``b``'s step, wrapped in the envelope, going to ``after`` when done (cached or committed)."""
    name, states, fail = b.name, b.states, b.fail
    first = b.pipeline.step_type(name).facet("states")(b)
    manifest = {"Bucket": "${ArtifactBucket}", "Key.$": b.plan("head_key")}  # never the file list (256 KiB)
    release_failed = b.on_error
    done = after if after is not None else f"{name}: done"  # what a Catch goes to when the step ends a branch
    for check, valid, miss in (
        (f"{name}: cache check", f"{name}: cache valid?", f"{name}: lock"),
        (f"{name}: recheck", f"{name}: recheck valid?", first),
    ):
        states[check] = asl.task(
            "arn:aws:states:::aws-sdk:s3:getObject",
            manifest,
            result_selector={"manifest.$": "States.StringToJson($.Body)"},
            result_path="$.cache",
            next_=valid,
            services=("s3",),
            catches=[{"ErrorEquals": list(asl.MISSING_OBJECT), "ResultPath": None, "Next": miss}],
            catch_to=fail if check.endswith("cache check") else release_failed,
        )
    hit = {
        "And": [
            {"Or": [{"Variable": "$.cache.manifest.schema", "StringEquals": s} for s in READABLE_SCHEMAS]},
            {"Variable": "$.cache.manifest.key", "StringEqualsPath": b.plan("key")},
            {"Variable": "$.cache.manifest.pipeline", "StringEquals": b.pipeline.name},
            {"Variable": "$.cache.manifest.step", "StringEquals": name},
            {"Variable": "$.cache.manifest.prefix", "IsString": True},
            # the prefix must be a folder of the step's own (never another step's, never '..' or a bucket root)
            {"Variable": "$.cache.manifest.prefix", "StringMatches": _escape(f"{b.pipeline.name}/steps/{name}/") + "*"},
            {"Not": {"Variable": "$.cache.manifest.prefix", "StringMatches": "*..*"}},
        ]
    }
    states[f"{name}: cache valid?"] = {
        "Type": "Choice",
        "Choices": [{**hit, "Next": f"{name}: cached"}],
        "Default": f"{name}: lock",
    }
    states[f"{name}: recheck valid?"] = {
        "Type": "Choice",
        "Choices": [{**hit, "Next": f"{name}: release lock (cached)"}],
        "Default": first,
    }
    states[f"{name}: cached"] = _then(
        {
            "Type": "Pass",
            "Parameters": {
                "status": "cached",
                "key.$": "$.cache.manifest.key",
                "prefix.$": "$.cache.manifest.prefix",
                "summary.$": "$.cache.manifest.summary",
                "run_id.$": "$.cache.manifest.run_id",
            },
            "ResultPath": f"$.results.{name}",
        },
        after,
    )
    locks.acquire(states, name, next_=f"{name}: recheck", retry_to=f"{name}: cache check", fail=fail)
    for state, suffix, next_ in (
        (f"{name}: release lock (cached)", " (cached)", f"{name}: cached"),
        (f"{name}: release lock", "", done),
        (release_failed, " (failed)", fail),
    ):
        keep = state == release_failed  # the step's own error stays what the failure target reports
        locks.release(states, state, name, next_=next_, fail=fail, prefix=f"{name}: ", suffix=suffix, keep_error=keep)
    if after is None:
        states[done] = {"Type": "Succeed"}
    states[b.commit] = asl.lambda_task(
        asl.COMMIT_FUNCTION,
        {"action": "commit", "step": name, "plan.$": "$.plan", "task.$": "$.task", "results.$": "$.results"},
        result_selector={
            "status": "ran",
            "key.$": "$.Payload.key",
            "prefix.$": "$.Payload.prefix",
            "summary.$": "$.Payload.summary",
            "run_id.$": "$.Payload.run_id",
        },
        result_path=f"$.results.{name}",
        next_=f"{name}: release lock",
        catch_to=release_failed,
    )


def _then(state: dict[str, Any], after: str | None) -> dict[str, Any]:
    """``state`` going to ``after``, or ending its branch."""
    if after is None:
        return {**state, "End": True}
    return {**state, "Next": after}
