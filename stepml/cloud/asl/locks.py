"""A step's lock in the state machine: take it, wait for it without polling, release it and wake its waiters.

The lock is one DynamoDB item per step key (``lock_id``), owned by an execution::

    <s>: lock               dynamodb:updateItem, condition: free, ours, or lease expired (an update, not a put:
                            waiters registered with an expired holder stay registered)
       taken ->             <s>: lock holder (getItem) -> still held? -> holder running? (sfn:describeExecution)
                            -> alive:    <s>: wait for release
                            -> gone:     <s>: break lock (deleteItem, condition: that holder) -> <s>: lock
    <s>: wait for release   aws-sdk:dynamodb:updateItem.waitForTaskToken: writes this execution's task token into
                            the holder's item (attribute "waiter <execution name>", condition: the same holder still
                            holds it) and waits for the holder's release to send it back.
                            woken -> <s>: cache check;   condition failed (released meanwhile) -> <s>: cache check;
                            no wake-up within LIVENESS_SECONDS (States.Timeout) -> <s>: lock holder (liveness check)
    <s>: release lock...    dynamodb:deleteItem (condition: ours, ReturnValues ALL_OLD) -> waiters? (Choice)
                            -> waiter tokens (Pass) -> wake waiters (Map: aws-sdk:sfn:sendTaskSuccess per token)

No lost wake-up: the registration and the release are single-item DynamoDB writes, so a waiter either registers
before the delete (its token is in the deleted item the release wakes) or after it (its condition fails and it
re-checks the cache at once). A holder that died where no Catch runs (``States.Runtime``) never wakes anyone:
its waiters' liveness check finds it not running within LIVENESS_SECONDS and breaks the lock. A waiter costs five
state transitions per liveness check instead of seven per 30 s of polling.
"""

from __future__ import annotations

from typing import Any

from stepml.cloud.asl import builder as asl

LIVENESS_SECONDS = 300  # how long a waiter trusts a live holder before checking it again
WAITING = "waiting"  # attribute set on the lock item by the first waiter: the release has tokens to send
WAIT_FOR_RELEASE = "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken"
SEND_TASK_SUCCESS = "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess"
# a conditional write that failed, as the optimized DynamoDB integration and the AWS SDK integration name it
SDK_LOCK_TAKEN = ("DynamoDb.ConditionalCheckFailedException",)


def lock_key(step: str) -> dict[str, Any]:
    return {"lock_id": {"S.$": f"$.plan.steps.{step}.lock_id"}}


def acquire(states: dict[str, dict[str, Any]], step: str, *, next_: str, retry_to: str, fail: str) -> None:
    """``<step>: lock`` and the contention path; ``next_`` once taken, ``retry_to`` (the cache check) after a wait."""
    key, table = lock_key(step), "${LockTable}"
    plan = f"$.plan.steps.{step}"
    states[f"{step}: lock"] = asl.task(
        "arn:aws:states:::dynamodb:updateItem",
        {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET #owner = :me, #step = :step, #key = :key, acquired_at = :at, expires_at = :exp",
            "ConditionExpression": "attribute_not_exists(lock_id) OR #owner = :me OR expires_at < :now",
            "ExpressionAttributeNames": {"#owner": "owner", "#step": "step", "#key": "key"},
            "ExpressionAttributeValues": {
                ":me": {"S.$": "$$.Execution.Id"},
                ":step": {"S": step},
                ":key": {"S.$": f"{plan}.key"},
                ":at": {"S.$": "$$.State.EnteredTime"},
                ":exp": {"N.$": "$.plan.lock_expires_at"},
                ":now": {"N.$": "$.plan.now"},
            },
        },
        next_=next_,
        services=("dynamodb",),
        catches=[{"ErrorEquals": list(asl.LOCK_TAKEN), "ResultPath": None, "Next": f"{step}: lock holder"}],
        catch_to=fail,
    )
    states[f"{step}: lock holder"] = asl.task(
        "arn:aws:states:::dynamodb:getItem",
        {"TableName": table, "Key": key, "ConsistentRead": True},
        result_path="$.holder",
        next_=f"{step}: still held?",
        services=("dynamodb",),
        catch_to=fail,
    )
    states[f"{step}: still held?"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.holder.Item.owner.S", "IsPresent": True, "Next": f"{step}: holder running?"}],
        "Default": f"{step}: lock",
    }
    states[f"{step}: holder running?"] = asl.task(
        "arn:aws:states:::aws-sdk:sfn:describeExecution",
        {"ExecutionArn.$": "$.holder.Item.owner.S"},
        result_selector={"status.$": "$.Status"},
        result_path="$.holder_status",
        next_=f"{step}: holder alive?",
        services=("sfn",),
        catches=[
            {
                "ErrorEquals": ["Sfn.ExecutionDoesNotExistException", "Sfn.InvalidArnException"],
                "ResultPath": None,
                "Next": f"{step}: break lock",
            }
        ],
        catch_to=f"{step}: wait for release",
    )
    states[f"{step}: holder running?"]["Catch"][-1]["ResultPath"] = None
    states[f"{step}: holder alive?"] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.holder_status.status", "StringEquals": "RUNNING", "Next": f"{step}: wait for release"}
        ],
        "Default": f"{step}: break lock",
    }
    states[f"{step}: wait for release"] = asl.task(
        WAIT_FOR_RELEASE,
        {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET #waiter = :token, #waiting = :yes",
            "ConditionExpression": "#owner = :holder",  # the holder found alive still holds it (not released)
            "ExpressionAttributeNames": {  # names, never words DynamoDB reserves
                "#owner": "owner",
                "#waiting": WAITING,
                "#waiter.$": "States.Format('waiter {}', $$.Execution.Name)",
            },
            "ExpressionAttributeValues": {
                ":holder": {"S.$": "$.holder.Item.owner.S"},
                ":token": {"M": {"token": {"S.$": "$$.Task.Token"}}},
                ":yes": {"BOOL": True},
            },
        },
        result_path=None,
        next_=retry_to,
        services=("dynamodb-sdk",),
        catches=[
            {"ErrorEquals": list(SDK_LOCK_TAKEN), "ResultPath": None, "Next": retry_to},
            {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": f"{step}: lock holder"},
        ],
        catch_to=fail,
        timeout_s=LIVENESS_SECONDS,
    )
    states[f"{step}: break lock"] = asl.task(
        "arn:aws:states:::dynamodb:deleteItem",
        {
            "TableName": table,
            "Key": key,
            "ConditionExpression": "#owner = :holder",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":holder": {"S.$": "$.holder.Item.owner.S"}},
            "ReturnValues": "ALL_OLD",
        },
        result_path="$.released",
        next_=f"{step}: waiters? (broken)",
        services=("dynamodb",),
        catches=[{"ErrorEquals": list(asl.LOCK_TAKEN), "ResultPath": None, "Next": f"{step}: lock"}],
        catch_to=fail,
    )
    # the dead holder's other waiters: woken, they race for the lock like this execution
    wake(states, f"{step}: waiters? (broken)", prefix=f"{step}: ", suffix=" (broken)", next_=f"{step}: lock")


def release(
    states: dict[str, dict[str, Any]],
    name: str,
    step: str,
    *,
    next_: str,
    fail: str,
    prefix: str,
    suffix: str,
    keep_error: bool = False,
) -> None:
    """``name``: release ``step``'s lock if this execution holds it, then wake its waiters; ``next_`` either way.
    ``keep_error``: a failure of the release itself keeps the error already at ``$.error`` (the step's)."""
    waiters = f"{prefix}waiters?{suffix}"
    states[name] = asl.task(
        "arn:aws:states:::dynamodb:deleteItem",
        {
            "TableName": "${LockTable}",
            "Key": lock_key(step),
            "ConditionExpression": "#owner = :me",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": {"S.$": "$$.Execution.Id"}},
            "ReturnValues": "ALL_OLD",
        },
        result_path="$.released",
        next_=waiters,
        services=("dynamodb",),
        catches=[{"ErrorEquals": list(asl.LOCK_TAKEN), "ResultPath": None, "Next": next_}],
        catch_to=fail,
    )
    if keep_error:
        states[name]["Catch"][-1]["ResultPath"] = None
    wake(states, waiters, prefix=prefix, suffix=suffix, next_=next_)


def wake(states: dict[str, dict[str, Any]], first: str, *, prefix: str, suffix: str, next_: str) -> None:
    """``first`` (Choice): if the released item had waiters, send each of their tokens back; then ``next_``."""
    tokens, send, gone = (
        f"{prefix}waiter tokens{suffix}",
        f"{prefix}wake waiter{suffix}",
        f"{prefix}waiter gone{suffix}",
    )
    states[first] = {
        "Type": "Choice",
        "Choices": [{"Variable": f"$.released.Attributes.{WAITING}", "IsPresent": True, "Next": tokens}],
        "Default": next_,
    }
    states[tokens] = {
        "Type": "Pass",
        # every "waiter <execution>" attribute is a map holding a token; the lock's own attributes are not maps
        "Parameters": {"tokens.$": "$.released.Attributes.*.M.token.S"},
        "ResultPath": "$.released",
        "Next": f"{prefix}wake waiters{suffix}",
    }
    send_state = asl.task(
        SEND_TASK_SUCCESS,
        {"TaskToken.$": "$.token", "Output": "{}"},
        result_path=None,
        next_="unused",
        services=("sfn",),
        catch_to=gone,  # a waiter that timed out meanwhile has a stale token (Sfn.TaskTimedOut): nothing to wake
    )
    send_state.pop("Next")
    send_state["End"] = True
    states[f"{prefix}wake waiters{suffix}"] = {
        "Type": "Map",
        "ItemsPath": "$.released.tokens",
        "ItemSelector": {"token.$": "$$.Map.Item.Value"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": send,
            "States": {send: send_state, gone: {"Type": "Pass", "End": True}},
        },
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": next_}],  # best effort
        "Next": next_,
    }
