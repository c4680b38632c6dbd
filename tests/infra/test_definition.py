"""The synthesized state machine: every step's cache check and lock, the .sync integrations, asl-validator."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from stepml.cloud.asl import resolve
from stepml.spec import load_spec
from tests.conftest import ROOT
from tests.infra.conftest import Synth, state_machine_definition


def _definition(synth: Synth) -> dict[str, Any]:
    text, substitutions = state_machine_definition(synth.templates["pipeline"])
    # intrinsic functions (Ref/GetAtt/Join) in the substitutions -> placeholder values, as CloudFormation would
    values = {k: v for k, v in substitutions.items() if isinstance(v, str)}
    return resolve(json.loads(text), values)


def _all_states(states: dict[str, Any]) -> dict[str, Any]:
    out = dict(states)
    for state in states.values():
        if "ItemProcessor" in state:
            out.update(_all_states(state["ItemProcessor"]["States"]))
    return out


def test_every_step_checks_the_cache_and_takes_the_lock(synth: Synth) -> None:
    states = _definition(synth)["States"]
    for step in load_spec(ROOT / "pipeline.yaml").spec.steps:
        cache = states[f"{step}: cache check"]
        assert cache["Resource"] == "arn:aws:states:::aws-sdk:s3:getObject"
        assert cache["Parameters"]["Key.$"] == f"$.plan.steps.{step}.head_key"  # never the file list
        missing = cache["Catch"][0]["ErrorEquals"]
        assert {"S3.NoSuchKeyException", "s3.NoSuchKeyException"} <= set(missing)
        lock = states[f"{step}: lock"]
        assert lock["Resource"] == "arn:aws:states:::dynamodb:putItem"
        assert "attribute_not_exists(lock_id)" in lock["Parameters"]["ConditionExpression"]
        assert lock["Catch"][0] == {
            "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
            "ResultPath": None,
            "Next": f"{step}: lock holder",
        }
        assert states[f"{step}: wait for lock"]["Type"] == "Wait"
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
    states = _definition(synth)["States"]  # top level: a failed map iteration fails the map, which catches
    for name, state in states.items():
        if state["Type"] not in ("Task", "Map"):
            continue
        last = state["Catch"][-1]
        assert last["ErrorEquals"] == ["States.ALL"], name
        target = last["Next"]
        assert target.endswith(("release lock (failed)", "wait for lock")) or target in {"Notify failure", "Failed"}
        assert state["Retry"][0]["JitterStrategy"] == "FULL", name
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
