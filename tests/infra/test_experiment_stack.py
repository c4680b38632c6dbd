"""What `cdk synth` makes of an online test (examples/online_test): the serve and readout steps as ECS tasks, the
plan Lambda allowed to read the experiment's first record, the SRM alarm on the readout's metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.infra.conftest import (
    Synth,
    actions,
    handler_role_statements,
    resources,
    role_statements,
    state_machine_definition,
    synthesize,
)

EXAMPLE = ROOT / "examples" / "online_test"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    raw = yaml.safe_load((EXAMPLE / "pipeline.yaml").read_text())
    raw["project_root"] = str(ROOT)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    raw["steps"]["extract_outcomes"]["sql"] = str(EXAMPLE / "outcomes.sql")
    raw["warehouse"]["local"] = {"path": str(ROOT / "data" / "warehouse.duckdb")}
    raw["experiments"]["ranker-ab"]["publish"] = {"dynamodb": True}
    folder = tmp_path_factory.mktemp("online-test")
    spec = folder / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return synthesize(folder / "cdk.out", spec=spec)


def test_the_plan_lambda_may_read_the_experiment_record_and_learn_it_is_missing(synth: Synth) -> None:
    """The plan checks a running experiment's first record; before the first serve there is none, and S3 answers
    a missing key with 404 NoSuchKey only to a caller that also has ``s3:ListBucket`` on the bucket - to anyone
    else with 403 AccessDenied, which would fail every plan of a new experiment
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions")."""
    statements = handler_role_statements(synth.templates["pipeline"], "plan.handler")
    reads = [s for s in statements if "s3:GetObject" in actions(s) and "experiments/ranker-ab" in json.dumps(s)]
    assert reads, statements
    assert "experiments/ranker-ab/experiment.json" in json.dumps(reads[0]["Resource"])
    listing = [s for s in statements if "s3:ListBucket" in actions(s) and "Condition" not in s]
    bucket_arn = [
        s for s in listing if "ArtifactsBucket" in json.dumps(s["Resource"]) and "/" not in json.dumps(s["Resource"])
    ]
    assert bucket_arn, listing  # on the bucket itself, not its objects
    # the variants' models come from upstream train steps here: no model package is looked up by alias
    assert not [s for s in statements if "sagemaker:DescribeModelPackage" in actions(s)]


def test_serve_and_readout_run_as_ecs_tasks(synth: Synth) -> None:
    template = synth.templates["pipeline"]
    definition, _ = state_machine_definition(template)
    from stepml.cloud.asl.machine import named_states

    states = named_states(json.loads(definition)["States"])  # states of Parallel branches too
    for step in ("serve", "readout"):
        task = states[f"{step}: run task"]
        assert task["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    families = sorted(t["Properties"]["Family"] for t in resources(template, "AWS::ECS::TaskDefinition").values())
    assert "stepml-online-test-dev-serve" in families and "stepml-online-test-dev-readout" in families


def test_the_srm_alarm_watches_the_readout_metric(synth: Synth) -> None:
    alarms = resources(synth.templates["monitoring"], "AWS::CloudWatch::Alarm")
    (srm,) = [a for a in alarms.values() if a["Properties"].get("MetricName") == "SampleRatioMismatch"]
    assert srm["Properties"]["Namespace"] == "stepml"
    assert srm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert srm["Properties"]["Threshold"] == 0


def test_the_serving_table_is_an_athena_table_over_the_published_partitions(synth: Synth) -> None:
    """Athena's partition projection finds a partition only where ``storage.location.template`` says, from the
    ``projection.<column>.type/format/range`` of each partition column - a date column needs all three
    (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html; ``date`` itself is a
    reserved word, so the column is ``served_date``). The commit publishes each serve exactly there."""
    from stepml.experiments.record import published_key

    template = synth.templates["pipeline"]
    (database,) = resources(template, "AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == "stepml_dev_online_test_serving"  # stage-scoped
    (table,) = resources(template, "AWS::Glue::Table").values()
    props = table["Properties"]["TableInput"]
    assert props["Name"] == "ranker_ab"
    params = props["Parameters"]
    assert params["projection.enabled"] == "true"
    assert {params[f"projection.served_date.{k}"] for k in ("type", "format", "range")} == {
        "date", "yyyy-MM-dd", "2020-01-01,NOW",
    }  # fmt: skip
    assert [k["Name"] for k in props["PartitionKeys"]] == ["served_date"]
    location = json.dumps(params["storage.location.template"])
    key = published_key("ranker-ab", "2026-05-01", "20260501T030000-abc123", "k")
    folder = key.rsplit("/", 1)[0].replace("2026-05-01", "${served_date}")
    assert f"/{folder}/" in location  # the template is where the commit copies each serve
    columns = {c["Name"]: c["Type"] for c in props["StorageDescriptor"]["Columns"]}
    assert columns["candidate_id"] == columns["job_id"] == "string" and columns["score"] == "double"


def test_the_dynamodb_serving_table_is_written_by_the_commit_lambda_only(synth: Synth) -> None:
    """A table the commit Lambda fills with BatchWriteItem: the Lambda's role needs ``dynamodb:BatchWriteItem`` on
    it (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html); items expire
    through TTL on a Number attribute of epoch seconds
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html); the
    name is stage-scoped (two stages in one account never share it)."""
    template = synth.templates["pipeline"]
    (table,) = resources(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TableName"] == "stepml-dev-online-test-ranker-ab"
    assert props["KeySchema"] == [{"AttributeName": "unit", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    commit = next(
        f for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].endswith("commit.handler")
    )  # fmt: skip
    env = commit["Properties"]["Environment"]["Variables"]
    assert env["STEPML_SERVING_TABLE_PREFIX"] == "stepml-dev-online-test-"
    role = commit["Properties"]["Role"]["Fn::GetAtt"][0]
    writes = [s for s in role_statements(template, role) if "dynamodb:BatchWriteItem" in actions(s)]
    assert writes and "ItemsRankerAb" in json.dumps(writes)
