"""What `cdk synth` makes of user steps: one task definition (or Processing role) per step, its own task role with
the spec's statements, its secrets as references only - never a value - and the grants of what it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.infra.conftest import Synth, resources, state_machine_definition, synthesize

EXAMPLE = ROOT / "examples" / "job_matching" / "pipeline.yaml"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["project_root"] = str(ROOT)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    raw["steps"]["top_k"]["secrets"] = {
        "PARTNER_TOKEN": {"secretsmanager": "partner/token"},
        "PARTNER_KEY": {"ssm": "/partner/key"},
    }
    raw["steps"]["top_k"]["iam"] = [{"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::partner-drop/*"]}]
    raw["steps"]["features_train"]["resources"] = {"instance_type": "ml.m5.2xlarge"}
    folder = tmp_path_factory.mktemp("user-steps")
    spec = folder / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return synthesize(folder / "cdk.out", spec=spec)


def test_each_ecs_user_step_has_its_task_definition_and_own_role(synth: Synth) -> None:
    tasks = resources(synth.templates["pipeline"], "AWS::ECS::TaskDefinition")
    families = sorted(t["Properties"]["Family"] for t in tasks.values())
    assert families == [f"stepml-job-matching-features-dev-{s}" for s in ("check", "features-score", "score", "top-k")]
    top_k = next(t for t in tasks.values() if t["Properties"]["Family"].endswith("top-k"))
    assert (top_k["Properties"]["Cpu"], top_k["Properties"]["Memory"]) == ("1024", "4096")  # the spec's resources
    role = top_k["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in resources(synth.templates["pipeline"], "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Action": "s3:PutObject", "Effect": "Allow", "Resource": "arn:aws:s3:::partner-drop/*"} in statements


def test_secrets_are_references_never_values(synth: Synth) -> None:
    tasks = resources(synth.templates["pipeline"], "AWS::ECS::TaskDefinition")
    top_k = next(t for t in tasks.values() if t["Properties"]["Family"].endswith("top-k"))
    (container,) = top_k["Properties"]["ContainerDefinitions"]
    secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in container["Secrets"]}
    assert set(secrets) == {"PARTNER_TOKEN", "PARTNER_KEY"}
    assert "secret:partner/token" in secrets["PARTNER_TOKEN"] and "parameter/partner/key" in secrets["PARTNER_KEY"]
    assert not {e["Name"] for e in container["Environment"]} & set(secrets)
    env = {e["Name"]: e["Value"] for e in container["Environment"] if isinstance(e["Value"], str)}
    assert json.loads(env["STEPML_SECRETS"]) == ["PARTNER_KEY", "PARTNER_TOKEN"]  # names only


def test_a_processing_user_step_has_its_role_and_the_machine_may_start_its_job(synth: Synth) -> None:
    template = synth.templates["pipeline"]
    _, substitutions = state_machine_definition(template)
    role = substitutions["ProcessingRoleArnFeaturesTrain"]["Fn::GetAtt"][0]  # the job runs as its own role
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust[0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    machine = next(r for r in resources(template, "AWS::StepFunctions::StateMachine").values())
    machine_role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": machine_role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
    } <= actions
    passes = [s for s in statements if s["Action"] == "iam:PassRole" and json.dumps(s["Resource"]).count(role)]
    assert passes and passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_the_task_execution_role_may_read_the_steps_secrets(synth: Synth) -> None:
    """ECS resolves a container's ``secrets`` with the task *execution* role when the task starts: that role needs
    ``ssm:GetParameters`` for Parameter Store and ``secretsmanager:GetSecretValue`` for Secrets Manager (the
    managed AmazonECSTaskExecutionRolePolicy has neither). AWS: "To use the Amazon ECS secrets feature, you must
    have the Amazon ECS task execution role and reference it in your task definition."
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html#task-execution-secrets
    """
    template = synth.templates["pipeline"]
    tasks = resources(template, "AWS::ECS::TaskDefinition")
    top_k = next(t for t in tasks.values() if t["Properties"]["Family"].endswith("top-k"))
    role = top_k["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    granted = json.dumps(statements)
    assert "ssm:GetParameters" in granted and "parameter/partner/key" in granted
    assert "secretsmanager:GetSecretValue" in granted and "secret:partner/token" in granted


def test_a_processing_jobs_environment_fits_sagemakers_limits(tmp_path: Path) -> None:
    """CreateProcessingJob's ``Environment`` holds at most 100 entries, keys and values at most 256 characters:
    the compiled job passes only the bucket and where its staged environment is (the stage Lambda writes the rest,
    settings and this execution's inputs, to S3). AWS:
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html (Environment: "Maximum
    number of 100 items", "Maximum length of 256" for keys and values)."""
    from stepml.cloud.asl import compile_pipeline, named_states, resolve
    from stepml.spec import load_spec

    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["project_root"] = str(ROOT)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    raw["steps"]["features_train"]["resources"] = {"instance_type": "ml.g5.xlarge"}
    raw["steps"]["features_train"]["config"] = {"clip_ratio": 3.0, "note": "x" * 2000}  # long settings
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    compiled = compile_pipeline(load_spec(spec))
    job = named_states(resolve(compiled.definition)["States"])["features_train: run job"]["Parameters"]
    environment = job["Environment"]
    assert len(environment) <= 100
    assert all(len(k.removesuffix(".$")) <= 256 for k in environment)
    assert all(len(v) <= 256 for v in environment.values() if isinstance(v, str))
    assert len(json.dumps(compiled.processing["features_train"].environment)) > 2000  # staged, not passed
