"""The synthesized state machine: every step's cache check and lock, the .sync integrations, asl-validator."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from infra.constructs.state_machine_policy import WILDCARD_ALLOWED
from stepml.cloud.asl import named_states, resolve
from stepml.spec import load_spec
from tests.conftest import ROOT
from tests.infra.conftest import Synth, resources, state_machine_definition


def _definition(synth: Synth) -> dict[str, Any]:
    text, substitutions = state_machine_definition(synth.templates["pipeline"])
    # intrinsic functions (Ref/GetAtt/Join) in the substitutions -> placeholder values, as CloudFormation would
    values = {k: v for k, v in substitutions.items() if isinstance(v, str)}
    return resolve(json.loads(text), values)


def _all_states(states: dict[str, Any]) -> dict[str, Any]:
    return named_states(states)  # Parallel branches and Map item processors included


def test_every_step_checks_the_cache_and_takes_the_lock(synth: Synth) -> None:
    states = _all_states(_definition(synth)["States"])
    for step in load_spec(ROOT / "pipeline.yaml").spec.steps:
        cache = states[f"{step}: cache check"]
        assert cache["Resource"] == "arn:aws:states:::aws-sdk:s3:getObject"
        assert cache["Parameters"]["Key.$"] == f"$.plan.steps.{step}.head_key"  # never the file list
        missing = cache["Catch"][0]["ErrorEquals"]
        assert {"S3.NoSuchKeyException", "s3.NoSuchKeyException"} <= set(missing)
        lock = states[f"{step}: lock"]
        assert lock["Resource"] == "arn:aws:states:::dynamodb:updateItem"  # keeps the waiters already registered
        assert "attribute_not_exists(lock_id)" in lock["Parameters"]["ConditionExpression"]
        assert lock["Catch"][0] == {
            "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
            "ResultPath": None,
            "Next": f"{step}: lock holder",
        }
        wait = states[f"{step}: wait for release"]  # a callback, not a polling loop
        assert wait["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken"
        for release in (f"{step}: release lock", f"{step}: release lock (failed)"):
            assert states[release]["Resource"] == "arn:aws:states:::dynamodb:deleteItem"
        assert states[f"{step}: commit"]["Next"] == f"{step}: release lock"


def test_native_integrations_are_sync_and_score_is_a_distributed_map(synth: Synth) -> None:
    states = _all_states(_definition(synth)["States"])
    resources = {s.get("Resource") for s in states.values()}
    assert "arn:aws:states:::athena:startQueryExecution.sync" in resources
    assert "arn:aws:states:::sagemaker:createTrainingJob.sync" in resources
    assert "arn:aws:states:::ecs:runTask.sync" in resources
    score_map = states["score: map"]
    assert score_map["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    # one item per partition, from the partition Lambda's JSON (the local runner's assignment of files)
    assert score_map["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert score_map["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    # each task is given its partition's index and the JSON's key (its files are read there, not passed in overrides)
    assert score_map["ItemSelector"]["partition.$"] == "$$.Map.Item.Value.index"
    assert score_map["ItemSelector"]["partitions_key.$"] == "$.partition.key"
    assert score_map["MaxConcurrency"] == 2  # pipeline.yaml: steps.score.max_concurrency
    # the children's results go to S3 (the Map's output is a pointer to them), each child's output is its index
    assert score_map["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert score_map["ResultSelector"]["results_key.$"] == "$.ResultWriterDetails.Key"
    assert score_map["ItemProcessor"]["States"]["score: run task"]["OutputPath"] == "$.partition"


def test_every_failure_path_releases_the_lock_and_notifies(synth: Synth) -> None:
    top = _definition(synth)["States"]
    states = _all_states(top)
    partitions = {n for s in states.values() if s.get("ItemReader") for n in s["ItemProcessor"]["States"]}
    for name, state in states.items():
        if state["Type"] not in ("Task", "Map", "Parallel") or name in partitions:
            continue  # a failed partition fails the Distributed Map, whose Catch releases the lock
        if "wake waiter" in name:  # waking is best effort: a waiter that is gone has nothing to wake
            continue
        last = state["Catch"][-1]
        assert last["ErrorEquals"] == ["States.ALL"], name
        target = last["Next"]
        released = target.endswith(("release lock (failed)", "wait for release")) or " stopped: release " in target
        # in a Parallel branch: the branch's end with the error ("Parallel N.i: failed"), reported after the branches
        branch_end = target.startswith("Parallel ") and target.endswith(": failed") and states[target]["Type"] == "Pass"
        assert released or branch_end or target in {"Notify failure", "Failed"}, name
        if state["Type"] == "Task":
            assert state["Retry"][0]["JitterStrategy"] == "FULL", name
    # an error no branch catches fails its Parallel state, whose Catch releases the branch's locks and notifies; a
    # branch ended by a step's failure is reported by "Parallel N: failed?" after the branches, to the same target
    for name, state in top.items():
        if state["Type"] == "Parallel":
            assert " stopped: release " in state["Catch"][-1]["Next"]
            check = top[state["Next"]]
            assert check["Type"] == "Choice" and len(check["Choices"]) == len(state["Branches"])
            assert {top[c["Next"]]["Next"] for c in check["Choices"]} == {"Notify failure"}, name
    assert states["Notify failure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["Notify failure"]["Next"] == "Failed"


def test_definition_passes_asl_validator(synth: Synth, node_tools: Path, tmp_path: Path) -> None:
    definition = _definition(synth)
    assert not re.search(r"\$\{[A-Za-z0-9]+\}", json.dumps(definition))  # every placeholder resolved
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    done = subprocess.run(
        [str(node_tools / "asl-validator"), "--json-path", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_asl_validator_rejects_a_broken_definition(node_tools: Path, tmp_path: Path) -> None:
    # a control: the validator really validates (a Next pointing nowhere)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}))
    done = subprocess.run(
        [str(node_tools / "asl-validator"), "--json-path", str(path)], capture_output=True, check=False
    )
    assert done.returncode != 0


def _machine_statements(synth: Synth) -> list[dict[str, Any]]:
    template = synth.templates["pipeline"]
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_state_machine_may_take_wait_on_and_release_locks_and_wake_waiters(synth: Synth) -> None:
    """The lock is taken and waited on with UpdateItem (a waiter writes its task token into the lock item), read
    with GetItem, released with DeleteItem; the release sends each waiter's token back with SendTaskSuccess. AWS:
    SendTaskSuccess has no resource type in IAM (it acts on a task token, not an ARN), so it is allowed on "*";
    AWS SDK integrations get no generated policy ("Step Functions can't autogenerate IAM policies for AWS SDK
    integrations").
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
    https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html"""
    statements = _machine_statements(synth)

    def actions(s: dict[str, Any]) -> list[str]:
        return s["Action"] if isinstance(s["Action"], list) else [s["Action"]]

    lock = [s for s in statements if "dynamodb:UpdateItem" in actions(s)]
    assert len(lock) == 1
    assert set(actions(lock[0])) == {"dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem"}
    assert "Locks" in json.dumps(lock[0]["Resource"])  # the lock table, not "*"
    assert not any("dynamodb:PutItem" in actions(s) for s in statements)  # no longer used
    (wake,) = [s for s in statements if "states:SendTaskSuccess" in actions(s)]
    assert actions(wake) == ["states:SendTaskSuccess"] and wake["Resource"] == "*"
    assert "states:SendTaskSuccess" in WILDCARD_ALLOWED
