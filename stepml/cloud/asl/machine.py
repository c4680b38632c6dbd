"""The pipeline compiled to an Amazon States Language definition: one pure function, printable offline.

:func:`compile_pipeline` returns the state machine as a plain dict plus what its steps need from the stacks (the
ECS task definitions of process steps). Shape (JSONPath), steps in the plan's dependency order::

    Input (Choice: no $.params -> Input: no params, $.params = {}; a JSONPath on a missing field would be a
           States.Runtime error, which no Catch catches)
    Plan (Lambda: the execution input -> stepml.core.schedule.run_of -> stepml.core.plan.make_plan -> keys,
          prefixes, lock ids, per-type entries; only the steps the run wants - a schedule's steps and what they need;
          the state becomes {"plan", "results"})
    All cached? (Choice: $.plan.cached present - the plan Lambda found every wanted step committed,
          stepml.cloud.handlers.fastpath) -> All cached (Pass: results = the plan's) -> Succeeded
    the steps in the shape of stepml.cloud.asl.shape: a sequence of steps and Parallel states whose branches are
          independent chains (extract_score runs while train trains); per step
          [<s>: in this run? (Choice: $.plan.steps.<s> present? - only when a schedule runs some steps)] and the
          envelope (stepml.cloud.asl.envelope) around the states its type builds
    any failure -> Notify failure (sns:publish) -> Failed (Fail)

Parallel states (https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html): each branch gets a
copy of the input and the output is an array, one element per branch - the ResultSelector merges the branches'
results (States.JsonMerge) and keeps the plan and each branch's ``error``, so the state stays {"plan", "results",
"error"}. A step that fails releases its lock and ends its branch with its error (a Pass state, not a Fail state:
a failed branch would stop its siblings, losing their work); the other branches run on to their end, as the local
runner lets independent steps finish. ``Parallel N: failed?`` then sends the first branch error to the failure
target. An error no state inside catches fails the Parallel state and stops its branches; its Catch releases the
lock of every step inside it that this execution still holds and wakes their waiters, then notifies.

Payloads stay small: states carry keys, prefixes and summaries; data stays in S3. No AWS call, no file written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepml.cloud.asl import builder as asl
from stepml.cloud.asl import locks
from stepml.cloud.asl.envelope import NOTIFY_FAILURE, step_states
from stepml.cloud.asl.shape import Block, Par, Seq, shape, steps_of
from stepml.cloud.asl.steps import ProcessingNeed, StepStates, TaskNeed
from stepml.cloud.asl.timeouts import budget_of, execution_timeout
from stepml.cloud.handlers.fastpath import ALL_CACHED, ALL_CACHED_CHOICE
from stepml.core.plan import order

if TYPE_CHECKING:
    from stepml.spec.pipeline import Pipeline

INPUT = "Input"  # the first state: the execution input made safe for the Plan's JSONPaths
IN_RUN = "in this run?"  # a step's first state when a schedule runs only some steps
# "You can nest up to 10 intrinsic functions within a field" (https://docs.aws.amazon.com/step-functions/latest/dg/
# intrinsic-functions.html): a Parallel state's results merge nests one States.JsonMerge per branch after the
# first, so a Parallel state has at most 11 branches; more independent chains nest a Parallel in its last branch
MAX_BRANCHES = 11
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


def named_states(states: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state by name, including those of Parallel branches and Map item processors (names are unique in the
    whole state machine: https://states-language.net/spec.html#states-fields)."""
    out: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        out[name] = state
        if "ItemProcessor" in state:
            out.update(named_states(state["ItemProcessor"]["States"]))
        for branch in state.get("Branches", []):
            out.update(named_states(branch["States"]))
    return out


def _resources(state: Mapping[str, Any]) -> list[str]:
    found = [str(state["Resource"])] if state.get("Type") == "Task" else []
    if "ItemReader" in state:
        found.append(str(state["ItemReader"]["Resource"]))
    return found


def compile_pipeline(pipeline: Pipeline) -> Compiled:
    states: dict[str, dict[str, Any]] = {}
    needs: dict[str, Any] = {}
    records = order(pipeline.plan_input.steps)
    graph = shape([s.name for s in records], {s.name: s.needs for s in records})
    steps: dict[str, dict[str, Any]] = {}
    first = _Compiler(pipeline, needs).block(graph, steps, after="Succeeded", fail=NOTIFY_FAILURE, done=[])
    states[INPUT] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.params", "IsPresent": True, "Next": "Plan"}],
        "Default": f"{INPUT}: no params",
    }
    states[f"{INPUT}: no params"] = {"Type": "Pass", "Result": {}, "ResultPath": "$.params", "Next": "Plan"}
    states["Plan"] = asl.lambda_task(
        asl.PLAN_FUNCTION,
        {
            "params.$": "$.params",
            "input.$": "$",  # a schedule's name and scheduled time (stepml.core.schedule.run_of)
            "execution_id.$": "$$.Execution.Id",
            "execution_name.$": "$$.Execution.Name",
            "started_at.$": "$$.Execution.StartTime",
        },
        result_selector={"plan.$": "$.Payload", "results": {}, "error": None},  # error: set by a failed step
        result_path="$",
        next_=ALL_CACHED_CHOICE,
        catch_to=NOTIFY_FAILURE,
    )
    states[ALL_CACHED_CHOICE] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.plan.cached", "IsPresent": True, "Next": ALL_CACHED}],
        "Default": first,
    }
    states[ALL_CACHED] = {
        "Type": "Pass",
        "Parameters": {"plan.$": "$.plan", "results.$": "$.plan.cached"},
        "ResultPath": "$",
        "Next": "Succeeded",
    }
    states.update(steps)
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


class _Compiler:
    """Emits the states of a :data:`~stepml.cloud.asl.shape.Block` into a states dict (the machine's or a
    branch's); returns the name of its first state."""

    def __init__(self, pipeline: Pipeline, needs: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.needs = needs
        self.parallels = 0
        self.selects = any(s.steps for s in pipeline.schedules.values())  # some runs leave steps out

    def block(
        self, block: Block, states: dict[str, dict[str, Any]], *, after: str | None, fail: str, done: list[str]
    ) -> str:
        """``done``: the steps finished before ``block`` starts (their results are in the state)."""
        if isinstance(block, str):
            step_states(StepStates(self.pipeline, block, states, self.needs, fail=fail), after)
            if not self.selects:
                return f"{block}: cache check"
            # the plan holds only the steps this run wants (they include everything those need); a step left out
            # gets an empty result, so a Parallel's ResultSelector still finds every step of its branches
            skipped = f"{block}: not in this run"
            states[skipped] = {
                "Type": "Pass",
                "Result": {"skipped": True},
                "ResultPath": f"$.results.{block}",
                **({"Next": after} if after is not None else {"End": True}),
            }
            states[f"{block}: {IN_RUN}"] = {
                "Type": "Choice",
                "Choices": [{"Variable": f"$.plan.steps.{block}", "IsPresent": True, "Next": f"{block}: cache check"}],
                "Default": skipped,
            }
            return f"{block}: {IN_RUN}"
        if isinstance(block, Seq):  # built from the last item back: each item goes to the next one's first state
            next_: str | None = after
            parts: list[dict[str, dict[str, Any]]] = []
            for i in reversed(range(len(block.items))):
                before = done + [s for item in block.items[:i] for s in steps_of(item)]
                parts.insert(0, {})
                next_ = self.block(block.items[i], parts[0], after=next_, fail=fail, done=before)
            for part in parts:  # in the order they run
                states.update(part)
            assert next_ is not None
            return next_
        return self.parallel(block, states, after=after, fail=fail, done=done)

    def parallel(
        self, block: Par, states: dict[str, dict[str, Any]], *, after: str | None, fail: str, done: list[str]
    ) -> str:
        if len(block.branches) > MAX_BRANCHES:  # the merge would nest more intrinsic functions than AWS allows
            block = Par((*block.branches[: MAX_BRANCHES - 1], Par(block.branches[MAX_BRANCHES - 1 :])))
        self.parallels += 1
        name = f"Parallel {self.parallels}"
        branches: list[dict[str, Any]] = []
        for i, branch in enumerate(block.branches):
            inner: dict[str, dict[str, Any]] = {}
            failed = f"{name}.{i + 1}: failed"
            start = self.block(branch, inner, after=None, fail=failed, done=done)
            # a step's failure (its lock released) ends its branch with the error at $.error; the other branches
            # run on to their end, as the local runner lets independent steps finish
            inner[failed] = {"Type": "Pass", "End": True}
            branches.append({"StartAt": start, "States": inner})
        # every branch holds the results before the Parallel state and adds its own steps' (a failed branch: up to
        # its failure): merged, they are the results after it
        merged = "$[0].results"
        for i in range(1, len(block.branches)):
            merged = f"States.JsonMerge({merged}, $[{i}].results, false)"
        inside = steps_of(block)
        cleanup = f"{name} stopped: release"
        check = f"{name}: failed?"
        state: dict[str, Any] = {
            "Type": "Parallel",
            "Branches": branches,
            # each branch's $.error: null (from the Plan state) or its failed step's error - one per branch, in order
            "ResultSelector": {"plan.$": "$[0].plan", "results.$": merged, "error": None, "errors.$": "$[*].error"},
            "ResultPath": "$",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{cleanup} {inside[0]}"}],
            "Next": check,
        }
        states[name] = state
        ok = after if after is not None else f"{name}: done"
        states[check] = {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": f"$.errors[{i}]", "IsNull": True}, "Next": f"{name}: branch {i + 1} failed"}
                for i in range(len(block.branches))
            ],
            "Default": ok,
        }
        for i in range(len(block.branches)):
            states[f"{name}: branch {i + 1} failed"] = {
                "Type": "Pass",
                "Parameters": {"plan.$": "$.plan", "results.$": "$.results", "error.$": f"$.errors[{i}]"},
                "ResultPath": "$",
                "Next": fail,
            }
        if after is None:
            states[ok] = {"Type": "Succeed"}
        # an error no branch catches (the Parallel state fails, its branches are stopped): a stopped branch never
        # ran its release, so release every lock of the Parallel this execution still holds
        for i, step in enumerate(inside):
            next_ = f"{cleanup} {inside[i + 1]}" if i + 1 < len(inside) else fail
            prefix = f"{cleanup} {step}"
            locks.release(states, prefix, step, next_=next_, fail=fail, prefix=f"{prefix} ", suffix="", keep_error=True)
            states[prefix]["Catch"][-1]["Next"] = next_  # best effort: go on with the other locks
        return name


def compile_definition(pipeline: Pipeline) -> dict[str, Any]:
    """The state machine of ``pipeline`` as an ASL dict with ``${Name}`` placeholders."""
    return compile_pipeline(pipeline).definition


def state_machine_timeout(pipeline: Pipeline) -> int:
    """An upper bound of one execution: every step's timeout x attempts x partition waves, plus bookkeeping
    (``stepml.cloud.asl.timeouts``)."""
    return execution_timeout(budget_of(s) for s in pipeline.steps.values())


def to_json(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, indent=2)
