"""Issue 12's optional resources on the synthesized templates: the Slack channel of the chat integration, the
exploration notebook, the no-NAT network. moto's CloudFormation cannot create the first two (``LEFT_OUT``), so they
are asserted here and the moto_server deploy (the reference pipeline, which declares neither) leaves them out."""

from __future__ import annotations

import base64
import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.infra.conftest import IMAGE_URI, Synth, actions, resources, role_statements
from tests.infra.moto_deploy import LEFT_OUT

WORKSPACE, CHANNEL = "T07ABCDEF12", "C07XYZ12345"
WAREHOUSE = "acme-warehouse"


@dataclass
class Templates:
    outdir: Path
    data: dict[str, Any]
    monitoring: dict[str, Any]
    pipeline: dict[str, Any]


def _synth(tmp: Path, mutate: Any, context: dict[str, str] | None = None, *, nag: bool = False) -> Templates:
    import aws_cdk as cdk

    from infra.app import build, config_from_context

    raw = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["project_root"] = str(ROOT)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / raw["steps"][name]["sql"])
    mutate(raw)
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    app = cdk.App(outdir=str(tmp / "out"), context={"image_uri": IMAGE_URI, "spec": str(spec), **(context or {})})
    stacks = build(app, config_from_context(app), nag=nag)
    app.synth()
    out = {k: json.loads((tmp / "out" / f"{getattr(stacks, k).stack_name}.template.json").read_text())
           for k in ("data", "monitoring", "pipeline")}  # fmt: skip
    return Templates(tmp / "out", **out)


def _everything(raw: dict[str, Any]) -> None:
    raw["notifications"] = {"slack": {"workspace_id": WORKSPACE, "channel_id": CHANNEL}}
    raw["deploy"] = {
        "warehouse_buckets": [WAREHOUSE],
        "network": "endpoints",
        "notebook": {"instance_type": "ml.t3.large", "install": "git+https://github.com/acme/jobs.git@v1"},
    }


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return _synth(tmp_path_factory.mktemp("full"), _everything, nag=True)


# ---------------------------------------------------------------------------------------------- chat integration
def test_the_slack_channel_gets_the_alerts_topic_with_a_notifications_only_role(full: Templates) -> None:
    """AWS::Chatbot::SlackChannelConfiguration requires ConfigurationName, IamRoleArn, SlackChannelId and
    SlackWorkspaceId (the workspace authorized once in the console); SnsTopicArns are the topics it delivers;
    GuardrailPolicies defaults to the AWS managed AdministratorAccess when not set, so stepml sets one.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-chatbot-slackchannelconfiguration.html
    The channel role is assumed by chatbot.amazonaws.com; the notification template grants cloudwatch
    Describe*/Get*/List*. https://docs.aws.amazon.com/chatbot/latest/adminguide/understanding-permissions.html
    """
    (channel,) = resources(full.monitoring, "AWS::Chatbot::SlackChannelConfiguration").values()
    props = channel["Properties"]
    assert props["SlackWorkspaceId"] == WORKSPACE and props["SlackChannelId"] == CHANNEL
    assert len(props["ConfigurationName"]) <= 128
    (topic_id,) = resources(full.monitoring, "AWS::SNS::Topic")
    assert props["SnsTopicArns"] == [{"Ref": topic_id}]
    assert props["UserRoleRequired"] is False and props["LoggingLevel"] == "ERROR"
    roles = resources(full.monitoring, "AWS::IAM::Role")
    role = roles[props["IamRoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    (inline,) = role["Policies"]
    (allowed,) = inline["PolicyDocument"]["Statement"]
    assert sorted(allowed["Action"]) == ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"]
    (guardrail_ref,) = props["GuardrailPolicies"]
    guardrail = resources(full.monitoring, "AWS::IAM::ManagedPolicy")[guardrail_ref["Ref"]]["Properties"]
    assert guardrail["PolicyDocument"]["Statement"] == inline["PolicyDocument"]["Statement"]


def test_the_chat_integration_can_deliver_from_the_encrypted_topic(full: Templates) -> None:
    """An SSE-KMS topic delivers to its subscribers (the chat integration among them) decrypted; what needs the
    key is each AWS service that publishes - CloudWatch alarms here - which the key policy allows.
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    The notify Lambda publishes as an IAM principal of the account, granted kms:GenerateDataKey*/Decrypt by its
    role (topic.grant_publish)."""
    (key,) = resources(full.monitoring, "AWS::KMS::Key").values()
    services = [s.get("Principal", {}).get("Service") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert "cloudwatch.amazonaws.com" in services
    notify_policies = [
        s
        for p in resources(full.pipeline, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "sns:Publish" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert notify_policies


def test_no_secret_reaches_a_template(full: Templates) -> None:
    text = json.dumps([full.data, full.monitoring, full.pipeline])
    assert "hooks.slack.com" not in text and "webhook" not in text.lower()


# ---------------------------------------------------------------------------------------------- notebook
def _notebook_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (instance,) = resources(template, "AWS::SageMaker::NotebookInstance").values()
    role = instance["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return role_statements(template, role)


def test_the_notebook_installs_the_project_within_sagemakers_script_limits(full: Templates) -> None:
    """A lifecycle script is base64 of at most 16,384 characters and may run at most 5 minutes, or the instance
    does not start: the install runs in the background.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_NotebookInstanceLifecycleHook.html
    """
    (config,) = resources(full.data, "AWS::SageMaker::NotebookInstanceLifecycleConfig").values()
    (hook,) = config["Properties"]["OnStart"]
    assert len(hook["Content"]) <= 16_384
    script = base64.b64decode(hook["Content"]).decode()
    assert script.startswith("#!/bin/bash") and "nohup" in script and script.rstrip().endswith("EOF")
    assert "pip install --quiet git+https://github.com/acme/jobs.git@v1" in script
    (instance,) = resources(full.data, "AWS::SageMaker::NotebookInstance").values()
    props = instance["Properties"]
    assert props["InstanceType"] == "ml.t3.large" and props["RootAccess"] == "Disabled" and "KmsKeyId" in props


def test_a_too_long_install_is_a_named_error() -> None:
    from infra.constructs.notebook import encoded, on_start_script
    from stepml.errors import SpecError

    with pytest.raises(SpecError, match=r"deploy\.notebook\.install.*at most 16384"):
        encoded(on_start_script("x" * 13_000))


def test_the_notebook_role_reads_artifacts_and_queries_the_warehouse_only(full: Templates) -> None:
    """Athena runs a query with its caller's permissions: the caller needs the workgroup's query actions, Glue
    reads on the catalog, database and tables, read access to the tables' buckets and write access to the query
    result location. https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html
    https://docs.aws.amazon.com/athena/latest/ug/workgroups-iam-policy.html"""
    statements = _notebook_statements(full.data)
    allowed = {a for s in statements for a in actions(s)}
    writes = {a for a in allowed if a.split(":")[1].startswith(("Put", "Delete", "Create", "Update"))}
    assert writes == {"s3:PutObject", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert not any(a.startswith(("sagemaker:", "iam:", "states:", "dynamodb:")) for a in allowed)
    (put,) = [s for s in statements if "s3:PutObject" in actions(s)]
    assert json.dumps(put["Resource"]).endswith('"/athena-results/*"]]}')
    (athena,) = [s for s in statements if "athena:StartQueryExecution" in actions(s)]
    assert "workgroup/stepml-dev" in json.dumps(athena["Resource"])
    glue = [s for s in statements if any(a.startswith("glue:") for a in actions(s))]
    assert all(a.startswith("glue:Get") for s in glue for a in actions(s))
    reads = [s for s in statements if "s3:GetObject" in actions(s)]
    assert any(f":s3:::{WAREHOUSE}/*" in json.dumps(s["Resource"]) for s in reads)
    assert all(s["Resource"] != "*" for s in statements)


# ---------------------------------------------------------------------------------------------- network
def test_the_endpoints_network_has_no_nat_and_the_endpoints_fargate_needs(full: Templates) -> None:
    """Fargate tasks in subnets without internet access pull from ECR through the ``ecr.api`` and ``ecr.dkr``
    interface endpoints, get image layers from S3 through the gateway endpoint, and need the ``logs`` endpoint
    for the awslogs driver (and ssm / secretsmanager for secrets).
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
    https://repost.aws/knowledge-center/ecs-fargate-docker-timeout-error"""
    t = full.pipeline
    assert resources(t, "AWS::EC2::NatGateway") == {} and resources(t, "AWS::EC2::InternetGateway") == {}
    endpoints = resources(t, "AWS::EC2::VPCEndpoint").values()
    names = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)
    for service in ("ecr.api", "ecr.dkr", "logs", ".s3"):
        assert any(service in n for n in names), (service, names)
    interface = [e["Properties"] for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert interface and all(p["PrivateDnsEnabled"] for p in interface)
    assert all(not s["Properties"].get("MapPublicIpOnLaunch", False) for s in resources(t, "AWS::EC2::Subnet").values())


def test_the_reference_network_keeps_its_nat(synth: Synth) -> None:
    t = synth.templates["pipeline"]
    assert len(resources(t, "AWS::EC2::NatGateway")) == 1
    assert not [e for e in resources(t, "AWS::EC2::VPCEndpoint").values()
                if e["Properties"].get("VpcEndpointType") == "Interface"]  # fmt: skip


# ---------------------------------------------------------------------------------------------- proofs
def test_cdk_nag_has_no_unsuppressed_findings_with_everything_on(full: Templates) -> None:
    open_findings = []
    reports = sorted(full.outdir.glob("AwsSolutions-*-NagReport.csv"))
    assert len(reports) == 3
    for report in reports:
        with report.open(newline="") as handle:
            open_findings += [r for r in csv.DictReader(handle) if r["Compliance"] == "Non-Compliant"]
    assert open_findings == []


def test_what_moto_cannot_create_is_left_out_of_the_moto_deploy(full: Templates, synth: Synth) -> None:
    """The moto_server deploy (tests/infra/test_deploy_moto.py) deploys the reference pipeline: none of the
    resource types moto's CloudFormation cannot create; this spec has them all."""
    reference = {r["Type"] for t in synth.templates.values() for r in t["Resources"].values()}
    everything = {r["Type"] for t in (full.data, full.monitoring, full.pipeline) for r in t["Resources"].values()}
    assert not reference & set(LEFT_OUT)
    assert {t for t in LEFT_OUT if not t.startswith("AWS::SageMaker::")} <= everything  # Studio: test_studio.py
