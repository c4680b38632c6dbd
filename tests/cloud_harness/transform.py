"""The one test transform between the compiled definition and moto's Step Functions interpreter.

:func:`for_moto` is pure (a new dict; the input is not touched). It changes exactly three things:

1. **Work that moto cannot run becomes a task-token hand-off.** Every ``Task`` whose resource is in
   :data:`HANDED_OFF` - the compute ``.sync`` integrations (Athena ``startQueryExecution.sync``, SageMaker
   ``createTrainingJob.sync`` and ``createProcessingJob.sync``, ECS ``runTask.sync``; the Redshift Data API
   ``executeStatement``) and
   ``lambda:invoke`` - becomes ``arn:aws:states:::sqs:sendMessage.waitForTaskToken`` on the worker queue. The
   message carries the original resource and the original ``Parameters`` (evaluated by the interpreter, as they
   would be for the real service), ``$$.Task.Token``, the state's name and the state's input. The state's
   ``ResultSelector``, ``ResultPath``, ``TimeoutSeconds``, ``Retry``, ``Catch`` and ``Next`` are kept, so the
   worker must answer with the output shape of the real service (see ``tests/cloud_harness/worker.py``).
   Why: moto's ``createTrainingJob.sync`` kills the execution, its ``runTask.sync`` fails on parameter casing,
   it has no Athena engine, and without Docker its ``lambda:invoke`` only echoes the payload.
2. **Waits and retry intervals are shortened** (moto sleeps for real): ``Wait.Seconds`` and
   ``Retry.IntervalSeconds`` / ``MaxDelaySeconds`` become at most ``max_seconds``, and the liveness check of a
   run waiting for a lock (the ``TimeoutSeconds`` of its ``.waitForTaskToken`` task, 300 s in AWS) at most
   ``liveness_seconds``. Counts (``MaxAttempts``), error names and the order of states are unchanged.
3. Nothing else: cache checks (S3 ``getObject``), locks (DynamoDB, the waiters' task tokens and the holder's
   ``sfn:sendTaskSuccess``), Choice states, Parallel states, the Distributed Map and its S3 ``ItemReader``,
   SageMaker model-registry calls (``aws-sdk:sagemaker:*``), ``sfn:describeExecution`` and the SNS notification
   run as generated.

:func:`without_locks` is the mutation the concurrency test uses to show that it can fail: the lock states
become pass-throughs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

WAIT_FOR_TOKEN = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
HANDED_OFF = (
    "arn:aws:states:::athena:startQueryExecution.sync",
    "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "arn:aws:states:::ecs:runTask.sync",
    "arn:aws:states:::sagemaker:createProcessingJob.sync",
    "arn:aws:states:::aws-sdk:redshiftdata:executeStatement",
    "arn:aws:states:::lambda:invoke",
)


def iter_states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those of Map item processors and Parallel branches."""
    for name, state in states.items():
        yield name, state
        if "ItemProcessor" in state:
            yield from iter_states(state["ItemProcessor"]["States"])
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"])


def for_moto(
    definition: Mapping[str, Any], queue_url: str, *, max_seconds: int = 1, liveness_seconds: int = 60
) -> dict[str, Any]:
    """``definition`` (placeholders resolved) as moto can execute it; see the module docstring."""
    out: dict[str, Any] = copy.deepcopy(dict(definition))
    for _, state in iter_states(out["States"]):
        if state.get("Type") == "Task" and state["Resource"] in HANDED_OFF:
            state["Parameters"] = {
                "QueueUrl": queue_url,
                "MessageBody": {
                    "token.$": "$$.Task.Token",
                    "state.$": "$$.State.Name",
                    "execution.$": "$$.Execution.Id",
                    "resource": state["Resource"],
                    "parameters": state["Parameters"],
                    "input.$": "$",
                },
            }
            state["Resource"] = WAIT_FOR_TOKEN
        elif state.get("Type") == "Task" and str(state["Resource"]).endswith(".waitForTaskToken"):
            state["TimeoutSeconds"] = min(int(state["TimeoutSeconds"]), liveness_seconds)
        if state.get("Type") == "Wait" and "Seconds" in state:
            state["Seconds"] = min(int(state["Seconds"]), max_seconds)
        for retry in state.get("Retry", []):
            retry["IntervalSeconds"] = min(int(retry.get("IntervalSeconds", 1)), max_seconds)
            if "MaxDelaySeconds" in retry:
                retry["MaxDelaySeconds"] = min(int(retry["MaxDelaySeconds"]), max_seconds)
    return out


def without_locks(definition: Mapping[str, Any]) -> dict[str, Any]:
    """``definition`` with every ``<step>: lock`` and ``<step>: release lock*`` state turned into a Pass."""
    out: dict[str, Any] = copy.deepcopy(dict(definition))
    _unlock(out["States"])
    return out


def _unlock(states: dict[str, Any]) -> None:
    for name in list(states):
        _, _, phase = name.partition(": ")
        if phase == "lock" or phase.startswith("release lock"):
            states[name] = {"Type": "Pass", "ResultPath": None, "Next": states[name]["Next"]}
        for branch in states[name].get("Branches", []):
            _unlock(branch["States"])
