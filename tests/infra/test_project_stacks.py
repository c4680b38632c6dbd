"""One `cdk synth` deploys every pipeline of the project: a train-and-gate pipeline and a score-only pipeline that
scores with its champion, sharing one data stack (one bucket: one model registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepml.errors import SpecError
from tests.conftest import ROOT
from tests.infra.conftest import IMAGE_URI, resources


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    import aws_cdk as cdk

    from infra.app import build_project, configs_from_context

    out = tmp_path_factory.mktemp("cdk") / "cdk.out"
    app = cdk.App(outdir=str(out), context={"image_uri": IMAGE_URI, "project": str(ROOT / "stepml.yaml")})
    stacks = build_project(app, configs_from_context(app), nag=False)
    app.synth()
    assert [s.pipeline.stack_name for s in stacks] == [
        "stepml-job-matching-dev-pipeline",
        "stepml-daily-scores-dev-pipeline",
    ]
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in out.glob("*.template.json")}


def test_each_pipeline_has_its_state_machine_and_dashboard_and_they_share_one_data_stack(
    project: dict[str, Any],
) -> None:
    assert sorted(project) == [
        "stepml-daily-scores-dev-monitoring",
        "stepml-daily-scores-dev-pipeline",
        "stepml-job-matching-dev-data",
        "stepml-job-matching-dev-monitoring",
        "stepml-job-matching-dev-pipeline",
    ]
    for name in ("job-matching", "daily-scores"):
        [machine] = resources(project[f"stepml-{name}-dev-pipeline"], "AWS::StepFunctions::StateMachine").values()
        assert machine["Properties"]["StateMachineName"] == f"stepml-{name}-dev"
        assert resources(project[f"stepml-{name}-dev-monitoring"], "AWS::CloudWatch::Dashboard")
    # the score-only pipeline reads and writes the shared bucket (an import of the data stack's export)
    daily = json.dumps(project["stepml-daily-scores-dev-pipeline"])
    assert "stepml-job-matching-dev-data:ExportsOutput" in daily


def test_only_the_pipeline_that_gates_a_model_creates_its_group(project: dict[str, Any]) -> None:
    groups = resources(project["stepml-job-matching-dev-pipeline"], "AWS::SageMaker::ModelPackageGroup")
    assert [g["Properties"]["ModelPackageGroupName"] for g in groups.values()] == ["stepml-dev-job-matching"]
    assert resources(project["stepml-daily-scores-dev-pipeline"], "AWS::SageMaker::ModelPackageGroup") == {}


def test_the_score_only_plan_function_may_look_up_the_champion(project: dict[str, Any]) -> None:
    """ListModelPackages has no resource-level permission (resource "*"); DescribeModelPackage is scoped to the
    model's packages. https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html"""
    template = project["stepml-daily-scores-dev-pipeline"]
    functions = resources(template, "AWS::Lambda::Function")
    plan = next(f for f in functions.values() if f["Properties"]["Handler"].endswith("plan.handler"))
    assert plan["Properties"]["Environment"]["Variables"]["STEPML_MODEL_GROUP_PREFIX"] == "stepml-dev"
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    describe = [s for s in statements if s["Action"] == "sagemaker:DescribeModelPackage"]
    assert describe and "model-package/stepml-dev-job-matching/*" in json.dumps(describe)
    assert any(s["Action"] == "sagemaker:ListModelPackages" and s["Resource"] == "*" for s in statements)
    [machine] = resources(template, "AWS::StepFunctions::StateMachine").values()
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "$.plan.steps.score.resolved.uri" in definition  # the model the plan resolved, not an upstream step's


def test_two_pipelines_gating_the_same_model_are_refused(tmp_path: Path) -> None:
    import aws_cdk as cdk
    import yaml

    from infra.app import build_project, configs_from_context

    (tmp_path / "pipelines").mkdir()
    for name in ("one", "two"):
        raw = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
        raw["name"], raw["models"] = name, {"shared": raw.pop("model")}
        for step in raw["steps"].values():
            if "sql" in step:
                step["sql"] = str(ROOT / step["sql"])
        (tmp_path / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    app = cdk.App(outdir=str(tmp_path / "out"), context={"image_uri": IMAGE_URI, "project": str(tmp_path / "x.yaml")})
    with pytest.raises(SpecError, match="model 'shared' is also registered by pipeline 'one'"):
        build_project(app, configs_from_context(app), nag=False)


def test_the_plan_function_may_probe_the_extracts_sources(tmp_path: Path) -> None:
    """The extracts' data version is probed in the plan Lambda: ``glue:GetTable`` must be allowed on the catalog,
    the database and the table - a Data Catalog resource is authorized along its hierarchy, whose ARNs are
    ``...:catalog``, ``...:database/<db>`` and ``...:table/<db>/<table>``
    (https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html) - and ``s3:ListBucket`` on
    the buckets holding the tables (ListObjectsV2 needs it:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html)."""
    import aws_cdk as cdk

    from infra.app import build_project, configs_from_context

    context = {"image_uri": IMAGE_URI, "spec": str(ROOT / "pipeline.yaml"), "warehouse_buckets": "my-lake"}
    app = cdk.App(outdir=str(tmp_path / "out"), context=context)
    [stacks] = build_project(app, configs_from_context(app), nag=False)
    app.synth()
    template = json.loads((tmp_path / "out" / f"{stacks.pipeline.stack_name}.template.json").read_text())
    functions = resources(template, "AWS::Lambda::Function")
    plan_id = next(k for k, f in functions.items() if f["Properties"]["Handler"].endswith("plan.handler"))
    role_ref = functions[plan_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_ref} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    glue = next(s for s in statements if s["Action"] == "glue:GetTable")
    text = json.dumps(glue["Resource"])
    assert ":catalog" in text and ":database/stepml_sample" in text and ":table/stepml_sample/*" in text
    listings = [json.dumps(s["Resource"]) for s in statements if s["Action"] == "s3:ListBucket"]
    assert any(":s3:::my-lake" in r for r in listings), listings  # (the artifact bucket is listed too: fast path)


def test_a_model_package_group_name_aws_refuses_is_an_error_at_synth(tmp_path: Path) -> None:
    """ModelPackageGroupName: "Length Constraints: Minimum length of 1. Maximum length of 63. Pattern:
    [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/
    API_CreateModelPackageGroup.html). The name is never truncated - two models would share a registry - so a
    stage too long for a model's name fails the synth, naming both."""
    import aws_cdk as cdk

    from infra.app import build_project, configs_from_context
    from stepml.cloud.handlers.models import GROUP_NAME, group_name

    assert GROUP_NAME.match(group_name("stepml-prod", "a" * 48))  # the longest model name with a short stage
    stage = "s" * 20
    context = {"image_uri": IMAGE_URI, "spec": str(ROOT / "pipeline.yaml"), "stage": stage}
    raw = (ROOT / "pipeline.yaml").read_text().replace("name: job-matching", "name: " + "j" * 40)
    raw = raw.replace("sql/", str(ROOT / "sql") + "/")
    spec = tmp_path / "long.yaml"
    spec.write_text(raw)
    context["spec"] = str(spec)
    app = cdk.App(outdir=str(tmp_path / "out"), context=context)
    with pytest.raises(ValueError, match=r"model package group of model 'j{40}'.*not a valid ModelPackageGroupName"):
        build_project(app, configs_from_context(app), nag=False)
