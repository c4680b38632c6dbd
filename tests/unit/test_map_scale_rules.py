"""AWS limits the partitioned steps must stay within whatever their size, encoded on the compiled definition, the
plan Lambda's output and the manifests (no AWS call): ECS overrides, state payloads, the Map's output, the
execution's timeout. The moto rig runs 1,000 partitions (tests/functional/test_cloud_map_scale.py), but moto
enforces none of these limits, so they are measured here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.cloud.asl import compile_pipeline
from stepml.cloud.asl.machine import iter_states
from stepml.cloud.asl.timeouts import MAX_EXECUTION_SECONDS, StepBudget, budget_of, execution_timeout
from stepml.cloud.bundle import lambda_config
from stepml.cloud.handlers.plan import plan_payload
from stepml.core import manifest as mf
from stepml.core.plan import empty_registry
from stepml.errors import StepExecutionError
from stepml.spec import Pipeline, load_spec
from tests.conftest import ROOT
from tests.unit.conftest import BUCKET

PAYLOAD_LIMIT = 256 * 1024  # bytes of UTF-8, any state's input or output
OVERRIDES_LIMIT = 8192  # characters of RunTask overrides, JSON formatting included
EXECUTION_NAME = "x" * 80  # the longest execution name (80 characters), the run id every task is given


def _pipeline(tmp_path: Path, *, partitions: int, max_concurrency: int = 2, retries: int = 2) -> Pipeline:
    raw = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["project_root"] = str(ROOT)
    raw["name"] = "a-pipeline-with-a-rather-long-name-for-its-prefixes"
    for name, step in raw["steps"].items():
        if "sql" in step:
            step["sql"] = str(ROOT / "sql" / Path(step["sql"]).name)
        if name == "score":
            step.update(partitions=partitions, max_concurrency=max_concurrency)
            step["resources"] = {**step.get("resources", {}), "retries": retries}
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_spec(spec)


def _plan(pipeline: Pipeline) -> dict[str, Any]:
    return plan_payload(
        lambda_config(pipeline),
        {},
        bucket="a-bucket-name-of-the-longest-length-s3-allows-which-is-63-chars",
        execution_id=f"arn:aws:states:us-east-1:123456789012:execution:m:{EXECUTION_NAME}",
        execution_name=EXECUTION_NAME,
        started_at="2026-05-01T03:00:00.123Z",
        resolve=empty_registry,
    )


def _path(state: Any, path: str) -> Any:
    for part in path.removeprefix("$").strip(".").split("."):
        state = state[part] if part else state
    return state


def _value(expression: str, state: Any) -> Any:
    """The JSONPath forms and intrinsics the definition's ``Value.$`` / ``Parameters`` use."""
    if m := re.fullmatch(r"States\.JsonToString\((\$[^)]*)\)", expression):
        return json.dumps(_path(state, m.group(1)), separators=(",", ":"))
    if m := re.fullmatch(r"States\.Format\('\{\}', (\$[^)]*)\)", expression):
        return str(_path(state, m.group(1)))
    assert expression.startswith("$."), expression
    return _path(state, expression)


def _evaluate(template: Any, state: Any) -> Any:
    if isinstance(template, dict):
        return {
            k.removesuffix(".$"): _value(v, state) if k.endswith(".$") else _evaluate(v, state)
            for k, v in template.items()
        }
    if isinstance(template, list):
        return [_evaluate(v, state) for v in template]
    return template


def _map_child_state(pipeline: Pipeline, states: dict[str, Any], partition: int) -> dict[str, Any]:
    """What one child of the score map gets (its ItemSelector evaluated) in an execution of ``pipeline``."""
    plan = _plan(pipeline)
    bucket = "a-bucket-name-of-the-longest-length-s3-allows-which-is-63-chars"
    train = plan["steps"]["train"]
    model_uri = f"s3://{bucket}/{train['attempt']}/output/{train['job_name']}-0-0/output/model.tar.gz"
    results = {
        s: {"prefix": e["attempt"], "summary": {"model": {"uri": model_uri, "version": 99999}}}
        for s, e in plan["steps"].items()
    }
    state: dict[str, Any] = {"plan": plan, "results": results}
    state["inputs"] = _evaluate(states["score: inputs"]["Parameters"], state)
    attempt = plan["steps"]["score"]["attempt"]
    state["partition"] = {"key": f"{attempt}/_partitions.json", "count": partition + 1}
    selector = states["score: map"]["ItemSelector"]
    item = {k: v for k, v in selector.items() if not k.startswith("partition.$")}
    child: dict[str, Any] = _evaluate(item, state)
    child["partition"] = partition  # $$.Map.Item.Value.index
    return child


def test_a_partitions_overrides_stay_under_runtask_s_limit_whatever_the_partition_count(tmp_path: Path) -> None:
    """Each partition's task gets its partitions object's key and its index, never its files: the longest
    overrides of the largest map the spec allows (10,000 partitions; the longest execution name and bucket) stay
    under ECS's limit. AWS RunTask, ``overrides``: "A total of 8192 characters are allowed for overrides. This
    limit includes the JSON formatting characters of the override structure."
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html"""
    pipeline = _pipeline(tmp_path, partitions=10_000)
    states = compile_pipeline(pipeline).definition["States"]
    child = _map_child_state(pipeline, states, partition=9_999)
    run = states["score: map"]["ItemProcessor"]["States"]["score: run task"]
    overrides = _evaluate(run["Parameters"]["Overrides"], child)
    size = len(json.dumps(overrides, separators=(",", ":")))
    assert size < OVERRIDES_LIMIT / 2, size
    assert all(isinstance(e["Value"], str) for e in overrides["ContainerOverrides"][0]["Environment"])
    assert not any("data/" in e["Value"] for e in overrides["ContainerOverrides"][0]["Environment"])  # no file


def test_the_maps_output_is_a_pointer_to_its_results_in_s3(tmp_path: Path) -> None:
    """Without a ResultWriter a Distributed Map's output is the array of its children's outputs, and "if the
    returned output size exceeds 256 KiB, the state machine execution fails and returns a
    ``States.DataLimitExceeded`` error" - a terminal error no Catch on ``States.ALL`` catches, so the lock would
    stay held and nobody be notified. With one, "Exporting the results to an Amazon S3 bucket is helpful if your
    output payload size exceeds 256 KiB"; the state's output is ``{"MapRunArn", "ResultWriterDetails"}``.
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html ;
    https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html ;
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"""
    pipeline = _pipeline(tmp_path, partitions=1000)
    definition = compile_pipeline(pipeline).definition
    maps = [  # the Distributed Maps (a lock release wakes its waiters with an inline Map)
        s
        for s in iter_states(definition["States"])
        if s.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]
    assert maps
    for state in maps:
        assert state["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
        assert "Prefix" in state["ResultWriter"]["Parameters"]  # fixed: each Map Run writes under its own id
        assert set(state["ResultSelector"]) == {"map_run.$", "results_key.$"}
        (child,) = state["ItemProcessor"]["States"].values()
        assert child["OutputPath"] == "$.partition"  # a child's output: its index
    # what the children's outputs would add up to inline - the problem the ResultWriter removes
    child_input = _map_child_state(pipeline, definition["States"], partition=999)
    assert 1000 * len(json.dumps(child_input)) > PAYLOAD_LIMIT


def test_the_cache_check_reads_a_head_whose_size_does_not_grow_with_the_files(tmp_path: Path) -> None:
    """A state's input or output is at most "256 KiB of data as a UTF-8 encoded string" (quotas page); the cache
    check's ``getObject`` returns the object's body into the state. A manifest lists every file (~200 bytes each),
    so the check reads its head: 5,000 files make the manifest pass the limit, never the head.
    https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"""
    pipeline = _pipeline(tmp_path, partitions=4)
    plan = _plan(pipeline)
    entry = plan["steps"]["score"]
    files = [
        {"path": f"data/part-{i:05d}-0000.parquet", "size": 123_456, "role": "data", "sha256": f"{i:064x}"}
        for i in range(5000)
    ]
    manifest = {
        "schema": mf.MANIFEST_SCHEMA,
        "pipeline": pipeline.name,
        "step": "score",
        "type": "score",
        "key": entry["key"],
        "prefix": entry["attempt"],
        "files": files,
        "rows": 10_000_000,
        "summary": {"model_version": "v12", "partitions": 5000},
        "detail": "10,000,000 rows scored",
        "run_id": EXECUTION_NAME,
        "finished_at": 1.0,
        "components": {"x": "y" * 200},
    }
    written: dict[str, bytes] = {}
    mf.write_manifest(written.__setitem__, manifest)
    assert list(written) == [entry["manifest_key"], entry["head_key"]]  # the manifest first: the commit point
    assert len(written[entry["manifest_key"]]) > PAYLOAD_LIMIT
    head = json.loads(written[entry["head_key"]])
    assert len(written[entry["head_key"]]) < 2048 and head["file_count"] == 5000
    # the Choice's fields and what a cached step passes on are all in the head
    for field in ("schema", "key", "pipeline", "step", "prefix", "summary", "run_id"):
        assert head[field] == manifest[field], field
    states = compile_pipeline(pipeline).definition["States"]
    for name in ("score: cache check", "score: recheck"):
        assert states[name]["Parameters"]["Key.$"] == "$.plan.steps.score.head_key"


def test_the_execution_timeout_counts_retries_backoff_and_partition_waves() -> None:
    """A partition's task may run its ``TimeoutSeconds`` once per attempt (``retries + 1``), with the Retry's
    backoff between attempts, and a map of P partitions runs them ``MaxConcurrency`` at a time: ceil(P/C) waves.
    The state machine's ``TimeoutSeconds`` ("A States.Timeout error is also reported when an entire state machine
    execution runs longer than the specified TimeoutSeconds value") must cover that; Standard workflow executions
    have a maximum duration of one year (the tutorial's Spanish text: "una duración máxima de un año y 25 000
    eventos"), so the bound is capped there.
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html ;
    https://docs.aws.amazon.com/step-functions/latest/dg/tutorial-continue-new.html ;
    https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"""
    one = StepBudget(timeout_s=1800, retries=2, partitions=10, max_concurrency=4)
    assert one.waves == 3
    assert one.seconds == 3 * (1800 * 3 + 30 + 60)
    assert StepBudget(timeout_s=60, partitions=3, max_concurrency=1000).waves == 1
    assert StepBudget(timeout_s=60, retries=10).seconds == 60 * 11 + sum(min(600, 30 * 2**k) for k in range(10))
    assert execution_timeout([one, StepBudget(timeout_s=900)], bookkeeping_s=3600) == one.seconds + 900 + 3600
    assert execution_timeout([StepBudget(timeout_s=7 * 24 * 3600, retries=10, partitions=10_000)]) == (
        MAX_EXECUTION_SECONDS
    )


def test_the_state_machine_timeout_is_the_steps_budgets(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, partitions=8, max_concurrency=2, retries=1)
    score = pipeline.step("score")
    assert budget_of(score).waves == 4
    timeout = compile_pipeline(pipeline).definition["TimeoutSeconds"]
    assert timeout == execution_timeout(budget_of(s) for s in pipeline.steps.values())
    assert timeout > 4 * 2 * score.resources.timeout_minutes * 60  # 4 waves of 2 attempts of the score step


@pytest.mark.parametrize("partitions", [1, 7])
def test_a_partitioned_step_has_one_wave_per_max_concurrency_partitions(tmp_path: Path, partitions: int) -> None:
    pipeline = _pipeline(tmp_path, partitions=partitions, max_concurrency=3)
    assert budget_of(pipeline.step("score")).waves == -(-partitions // 3)


def _finish_context(s3: Any, task: dict[str, Any]) -> Any:
    from types import SimpleNamespace

    from stepml.cloud.handlers.context import FinishContext

    return FinishContext(
        step=SimpleNamespace(name="score"),  # type: ignore[arg-type]  # only its name, the map's results are read
        plan=None,  # type: ignore[arg-type]
        settings={},
        config={},
        bucket=BUCKET,
        attempt="p/steps/score/k/a",
        task=task,
        results={},
        s3=s3,
        client=lambda service: None,
    )


def _map_run(s3: Any, outcomes: dict[int, bool]) -> str:
    """A Map Run's results as its ResultWriter writes them; the partitions object; each success's result file."""
    s3.put_object(Bucket=BUCKET, Key="p/steps/score/k/a/_partitions.json", Body=json.dumps([{}] * 4))
    records: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": []}
    for index, ok in outcomes.items():
        record = {"Input": json.dumps({"partition": index, "plan": {}}), "Status": "SUCCEEDED" if ok else "FAILED"}
        if ok:
            record["Output"] = json.dumps(index)
            s3.put_object(Bucket=BUCKET, Key=f"p/steps/score/k/a/_results/part-{index:05d}.json", Body=b"{}")
        records["SUCCEEDED" if ok else "FAILED"].append(record)
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, items in records.items():
        if items:
            s3.put_object(Bucket=BUCKET, Key=f"p/map-runs/score/r/{status}_0.json", Body=json.dumps(items))
            files[status].append({"Key": f"p/map-runs/score/r/{status}_0.json", "Size": 1})
    s3.put_object(Bucket=BUCKET, Key="p/map-runs/score/r/manifest.json", Body=json.dumps({"ResultFiles": files}))
    return "p/map-runs/score/r/manifest.json"


@pytest.mark.parametrize(
    ("outcomes", "problem"),
    [
        ({0: True, 1: True, 2: True, 3: True}, None),
        ({0: True, 1: False, 2: True, 3: True}, "1 of 4 partitions did not succeed"),
        ({0: True, 1: True, 2: True}, "1 of 4 partitions did not succeed"),  # one absent from the results
    ],
)
def test_the_commit_reads_every_partitions_success_from_the_map_runs_results(
    s3: Any, outcomes: dict[int, bool], problem: str | None
) -> None:
    ctx = _finish_context(s3, {"results_key": _map_run(s3, outcomes)})
    if problem is None:
        assert ctx.partitions_succeeded() == 4 and len(ctx.entry_results()) == 4
        return
    with pytest.raises(StepExecutionError, match=problem):
        ctx.entry_results()


def test_a_partition_that_succeeded_without_its_result_is_not_committed(s3: Any) -> None:
    ctx = _finish_context(s3, {"results_key": _map_run(s3, dict.fromkeys(range(4), True))})
    s3.delete_object(Bucket=BUCKET, Key="p/steps/score/k/a/_results/part-00002.json")
    with pytest.raises(StepExecutionError, match=r"partitions \[2\] succeeded but wrote no result"):
        ctx.entry_results()
