"""The pipeline compiled to an Amazon States Language definition: one pure function, printable offline.

:func:`compile_pipeline` returns the state machine as a plain dict plus what its steps need from the stacks (the
ECS task definitions of process steps). Shape (JSONPath), steps in the plan's dependency order::

    Input (Choice: no $.params -> Input: no params, {"params": {}}; a JSONPath on a missing field would be a
           States.Runtime error, which no Catch catches)
    Plan (Lambda: stepml.core.plan.make_plan -> keys, prefixes, lock ids, per-type entries)
    per step: the envelope (stepml.cloud.asl.envelope) around the states its type builds
    any failure -> Notify failure (sns:publish) -> Failed (Fail)

Payloads stay small: states carry keys, prefixes and summaries; data stays in S3. No AWS call, no file written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepml.cloud.asl import builder as asl
from stepml.cloud.asl.envelope import NOTIFY_FAILURE, step_states
from stepml.cloud.asl.steps import ProcessingNeed, StepStates, TaskNeed
from stepml.cloud.asl.timeouts import budget_of, execution_timeout
from stepml.core.plan import order

if TYPE_CHECKING:
    from stepml.spec.pipeline import Pipeline

INPUT = "Input"  # the first state: the execution input made safe for the Plan's JSONPaths
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@dataclass(frozen=True)
class Compiled:
    definition: dict[str, Any]
    tasks: dict[str, TaskNeed]  # step -> the ECS task definition it runs in
    processing: dict[str, ProcessingNeed]  # step -> the SageMaker Processing job it runs as

    @property
    def substitutions(self) -> list[str]:
        """Every ``${Name}`` the definition uses, in order of first use."""
        return list(dict.fromkeys(_PLACEHOLDER.findall(json.dumps(self.definition))))

    @property
    def resources(self) -> set[str]:
        """Every integration the definition calls (Task resources, Map item readers)."""
        return {r for s in iter_states(self.definition["States"]) for r in _resources(s)}


def iter_states(states: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every state, including those of Map item processors and Parallel branches."""
    out: list[dict[str, Any]] = []
    for state in states.values():
        out.append(state)
        if "ItemProcessor" in state:
            out.extend(iter_states(state["ItemProcessor"]["States"]))
        for branch in state.get("Branches", []):
            out.extend(iter_states(branch["States"]))
    return out


def _resources(state: Mapping[str, Any]) -> list[str]:
    found = [str(state["Resource"])] if state.get("Type") == "Task" else []
    if "ItemReader" in state:
        found.append(str(state["ItemReader"]["Resource"]))
    return found


def compile_pipeline(pipeline: Pipeline) -> Compiled:
    states: dict[str, dict[str, Any]] = {}
    needs: dict[str, Any] = {}
    names = [s.name for s in order(pipeline.plan_input.steps)]
    states[INPUT] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.params", "IsPresent": True, "Next": "Plan"}],
        "Default": f"{INPUT}: no params",
    }
    states[f"{INPUT}: no params"] = {"Type": "Pass", "Result": {"params": {}}, "ResultPath": "$", "Next": "Plan"}
    states["Plan"] = asl.lambda_task(
        asl.PLAN_FUNCTION,
        {
            "params.$": "$.params",
            "execution_id.$": "$$.Execution.Id",
            "execution_name.$": "$$.Execution.Name",
            "started_at.$": "$$.Execution.StartTime",
        },
        result_selector={"Payload.$": "$.Payload"},
        result_path="$.plan",
        next_="Plan: unwrap",
        catch_to=NOTIFY_FAILURE,
    )
    states["Plan: unwrap"] = {
        "Type": "Pass",
        "InputPath": "$.plan.Payload",
        "ResultPath": "$.plan",
        "Next": "Plan: results",
    }
    states["Plan: results"] = {
        "Type": "Pass",
        "Result": {},
        "ResultPath": "$.results",
        "Next": f"{names[0]}: cache check",
    }
    for i, name in enumerate(names):
        after = f"{names[i + 1]}: cache check" if i + 1 < len(names) else "Succeeded"
        step_states(StepStates(pipeline, name, states, needs), after)
    states[NOTIFY_FAILURE] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": "${TopicArn}",
            "Subject": f"stepml {pipeline.name}: run failed",
            "Message.$": "States.JsonToString($.error)",
        },
        "ResultPath": None,
        "Retry": [asl.retry("sns")],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Failed"}],
        "Next": "Failed",
    }
    states["Failed"] = {
        "Type": "Fail",
        "Error": "stepml.RunFailed",
        "Cause": "A step failed; the notification and the execution history name it and its error.",
    }
    states["Succeeded"] = {"Type": "Succeed"}
    definition = {
        "Comment": f"stepml pipeline {pipeline.name}: compiled from the spec by stepml.cloud.asl",
        "StartAt": INPUT,
        "TimeoutSeconds": state_machine_timeout(pipeline),
        "States": states,
    }
    return Compiled(
        definition,
        tasks={k: v for k, v in needs.items() if isinstance(v, TaskNeed)},
        processing={k: v for k, v in needs.items() if isinstance(v, ProcessingNeed)},
    )


def compile_definition(pipeline: Pipeline) -> dict[str, Any]:
    """The state machine of ``pipeline`` as an ASL dict with ``${Name}`` placeholders."""
    return compile_pipeline(pipeline).definition


def state_machine_timeout(pipeline: Pipeline) -> int:
    """An upper bound of one execution: every step's timeout x attempts x partition waves, plus bookkeeping
    (``stepml.cloud.asl.timeouts``)."""
    return execution_timeout(budget_of(s) for s in pipeline.steps.values())


def to_json(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, indent=2)
