"""The envelope every step gets, whatever its type: cache check, lock, recheck, the type's states, commit, release.

    <s>: cache check      aws-sdk:s3:getObject <pipeline>/steps/<s>/<key>/_manifest.head.json (the manifest
                          without its file list: a bounded size, whatever the number of files)
    <s>: cache valid?     Choice (schema, key) -> <s>: cached (Pass) | <s>: lock
    <s>: lock             dynamodb:putItem, condition: free, ours, or lease expired
       contention ->      <s>: lock holder (getItem) -> holder running? (sfn:describeExecution)
                          -> <s>: wait for lock (Wait) -> <s>: cache check    | -> <s>: break lock (deleteItem)
    <s>: recheck          the manifest again, under the lock (another run may have committed meanwhile)
    <s>: <type states>    built by the step type's states facet (stepml.cloud.asl.steps.StepStates)
    <s>: commit           Lambda: the type's cloud facet finishes the output; the manifest is written last
    <s>: release lock     dynamodb:deleteItem (condition: ours)
    any failure -> <s>: release lock (failed) -> Notify failure

A fully cached step costs three state transitions: cache check, cache valid?, cached.
"""

from __future__ import annotations

from typing import Any

from stepml.cloud.asl import builder as asl
from stepml.cloud.asl.steps import StepStates
from stepml.core.manifest import READABLE_SCHEMAS

LOCK_WAIT_SECONDS = 30
NOTIFY_FAILURE = "Notify failure"


def _escape(text: str) -> str:
    """``text`` as a literal in a StringMatches pattern."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def step_states(b: StepStates, after: str) -> None:
    """Add ``b``'s step, wrapped in the envelope, going to ``after`` when done (cached or committed)."""
    name, states = b.name, b.states
    first = b.pipeline.step_type(name).facet("states")(b)
    manifest = {"Bucket": "${ArtifactBucket}", "Key.$": b.plan("head_key")}  # never the file list (256 KiB)
    release_failed = b.on_error
    lock_key = {"lock_id": {"S.$": b.plan("lock_id")}}
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
            catch_to=NOTIFY_FAILURE if check.endswith("cache check") else release_failed,
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
    states[f"{name}: cached"] = {
        "Type": "Pass",
        "Parameters": {
            "status": "cached",
            "key.$": "$.cache.manifest.key",
            "prefix.$": "$.cache.manifest.prefix",
            "summary.$": "$.cache.manifest.summary",
            "run_id.$": "$.cache.manifest.run_id",
        },
        "ResultPath": f"$.results.{name}",
        "Next": after,
    }
    _lock(b, lock_key)
    release = {
        "TableName": "${LockTable}",
        "Key": lock_key,
        "ConditionExpression": "#owner = :me",
        "ExpressionAttributeNames": {"#owner": "owner"},
        "ExpressionAttributeValues": {":me": {"S.$": "$$.Execution.Id"}},
    }
    for state, next_ in (
        (f"{name}: release lock (cached)", f"{name}: cached"),
        (f"{name}: release lock", after),
        (release_failed, NOTIFY_FAILURE),
    ):
        states[state] = asl.task(
            "arn:aws:states:::dynamodb:deleteItem",
            release,
            next_=next_,
            services=("dynamodb",),
            catches=[{"ErrorEquals": list(asl.LOCK_TAKEN), "ResultPath": None, "Next": next_}],
            catch_to=NOTIFY_FAILURE,
        )
    states[release_failed]["Catch"][-1]["ResultPath"] = None  # keep the step's error for the notification
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


def _lock(b: StepStates, lock_key: dict[str, Any]) -> None:
    name, states, table = b.name, b.states, "${LockTable}"
    states[f"{name}: lock"] = asl.task(
        "arn:aws:states:::dynamodb:putItem",
        {
            "TableName": table,
            "Item": {
                **lock_key,
                "owner": {"S.$": "$$.Execution.Id"},
                "step": {"S": name},
                "key": {"S.$": b.plan("key")},
                "acquired_at": {"S.$": "$$.State.EnteredTime"},
                "expires_at": {"N.$": "$.plan.lock_expires_at"},
            },
            "ConditionExpression": "attribute_not_exists(lock_id) OR #owner = :me OR expires_at < :now",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": {"S.$": "$$.Execution.Id"}, ":now": {"N.$": "$.plan.now"}},
        },
        next_=f"{name}: recheck",
        services=("dynamodb",),
        catches=[{"ErrorEquals": list(asl.LOCK_TAKEN), "ResultPath": None, "Next": f"{name}: lock holder"}],
        catch_to=NOTIFY_FAILURE,
    )
    states[f"{name}: lock holder"] = asl.task(
        "arn:aws:states:::dynamodb:getItem",
        {"TableName": table, "Key": lock_key, "ConsistentRead": True},
        result_path="$.holder",
        next_=f"{name}: still held?",
        services=("dynamodb",),
        catch_to=NOTIFY_FAILURE,
    )
    states[f"{name}: still held?"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.holder.Item.owner.S", "IsPresent": True, "Next": f"{name}: holder running?"}],
        "Default": f"{name}: lock",
    }
    states[f"{name}: holder running?"] = asl.task(
        "arn:aws:states:::aws-sdk:sfn:describeExecution",
        {"ExecutionArn.$": "$.holder.Item.owner.S"},
        result_selector={"status.$": "$.Status"},
        result_path="$.holder_status",
        next_=f"{name}: holder alive?",
        services=("sfn",),
        catches=[
            {
                "ErrorEquals": ["Sfn.ExecutionDoesNotExistException", "Sfn.InvalidArnException"],
                "ResultPath": None,
                "Next": f"{name}: break lock",
            }
        ],
        catch_to=f"{name}: wait for lock",
    )
    states[f"{name}: holder running?"]["Catch"][-1]["ResultPath"] = None
    states[f"{name}: holder alive?"] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.holder_status.status", "StringEquals": "RUNNING", "Next": f"{name}: wait for lock"}
        ],
        "Default": f"{name}: break lock",
    }
    states[f"{name}: wait for lock"] = {"Type": "Wait", "Seconds": LOCK_WAIT_SECONDS, "Next": f"{name}: cache check"}
    states[f"{name}: break lock"] = asl.task(
        "arn:aws:states:::dynamodb:deleteItem",
        {
            "TableName": table,
            "Key": lock_key,
            "ConditionExpression": "#owner = :holder",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":holder": {"S.$": "$.holder.Item.owner.S"}},
        },
        next_=f"{name}: lock",
        services=("dynamodb",),
        catches=[{"ErrorEquals": list(asl.LOCK_TAKEN), "ResultPath": None, "Next": f"{name}: lock"}],
        catch_to=NOTIFY_FAILURE,
    )
