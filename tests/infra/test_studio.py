"""``deploy.notebook.kind: studio``: the SageMaker Studio domain, its user profiles and JupyterLab lifecycle
configuration, on the synthesized templates. moto's CloudFormation cannot create any of the three (``LEFT_OUT``),
so the moto_server deploy of the reference pipeline leaves them out and these tests hold AWS's rules."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synth, actions, resources, role_statements
from tests.infra.moto_deploy import LEFT_OUT
from tests.infra.test_notify_notebook_network import Templates, _synth

USERS = ["alice", "Bob-2"]
WAREHOUSE = "acme-warehouse"
STUDIO_TYPES = {"AWS::SageMaker::Domain", "AWS::SageMaker::UserProfile", "AWS::SageMaker::StudioLifecycleConfig"}
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # domain, user profile and lifecycle config names


def _studio(network: str) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        raw["deploy"] = {
            "warehouse_buckets": [WAREHOUSE],
            "network": network,
            "notebook": {
                "kind": "studio",
                "users": USERS,
                "install": "s3://acme-artifacts/dist/jobs-1.0-py3-none-any.whl",
            },
        }

    return mutate


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return _synth(tmp_path_factory.mktemp("studio"), _studio("nat"), nag=True)


@pytest.fixture(scope="module")
def studio_no_nat(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return _synth(tmp_path_factory.mktemp("studio-endpoints"), _studio("endpoints"))


def _domain(t: Templates) -> dict[str, Any]:
    (domain,) = resources(t.pipeline, "AWS::SageMaker::Domain").values()
    return dict(domain["Properties"])


def _ref(value: dict[str, Any]) -> str:
    return str(value.get("Ref") or value["Fn::GetAtt"][0])


def test_the_domain_uses_iam_auth_in_the_stacks_vpc_and_task_subnets(studio: Templates) -> None:
    """AWS::SageMaker::Domain requires AuthMode (SSO | IAM), DefaultUserSettings, DomainName (pattern
    ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``), SubnetIds (1 to 16) and VpcId; all traffic between the domain and its
    EFS volume goes through them.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-domain.html"""
    props = _domain(studio)
    assert props["AuthMode"] == "IAM" and NAME.match(props["DomainName"])
    (vpc_id,) = resources(studio.pipeline, "AWS::EC2::VPC")
    assert props["VpcId"] == {"Ref": vpc_id}
    subnets = resources(studio.pipeline, "AWS::EC2::Subnet")
    assert 1 <= len(props["SubnetIds"]) <= 16
    assert all(_ref(s) in subnets and not subnets[_ref(s)]["Properties"].get("MapPublicIpOnLaunch")
               for s in props["SubnetIds"])  # fmt: skip
    assert "KmsKeyId" not in props  # the AWS managed key: a customer key needs kms:CreateGrant on the role


def test_vpc_only_apps_get_the_nat_route_and_nfs_to_their_volume(studio: Templates) -> None:
    """With AppNetworkAccessType VpcOnly all Studio traffic goes through the VPC: without an interface endpoint to
    the SageMaker API and runtime or a NAT gateway (and security groups allowing outbound connections) no notebook
    runs; NFS (TCP 2049) must be allowed inbound and outbound for an app to start. VpcOnly requires security groups
    in the user settings.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-domain.html
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UserSettings.html"""
    t = studio.pipeline
    props = _domain(studio)
    assert props["AppNetworkAccessType"] == "VpcOnly"
    routes = [r["Properties"] for r in resources(t, "AWS::EC2::Route").values()]
    associations = [a["Properties"] for a in resources(t, "AWS::EC2::SubnetRouteTableAssociation").values()]
    for subnet in props["SubnetIds"]:
        (table,) = [_ref(a["RouteTableId"]) for a in associations if a["SubnetId"] == subnet]
        assert any(_ref(r["RouteTableId"]) == table and "NatGatewayId" in r for r in routes), subnet
    (group,) = props["DefaultUserSettings"]["SecurityGroups"]
    sg = resources(t, "AWS::EC2::SecurityGroup")[_ref(group)]["Properties"]
    assert sg["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}
    ]
    nfs = [i["Properties"] for i in resources(t, "AWS::EC2::SecurityGroupIngress").values()
           if _ref(i["Properties"]["GroupId"]) == _ref(group)]  # fmt: skip
    assert [(i["FromPort"], i["ToPort"], i["IpProtocol"], _ref(i["SourceSecurityGroupId"])) for i in nfs] == [
        (2049, 2049, "tcp", _ref(group))
    ]


def test_without_a_nat_gateway_the_apps_use_sagemakers_internet(studio_no_nat: Templates) -> None:
    """The endpoints network has no NAT gateway and none of the SageMaker API/runtime endpoints VpcOnly apps need,
    so the domain stays PublicInternetOnly (non-EFS traffic through SageMaker's VPC, which has internet access;
    the default). https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-domain.html"""
    assert resources(studio_no_nat.pipeline, "AWS::EC2::NatGateway") == {}
    assert _domain(studio_no_nat)["AppNetworkAccessType"] == "PublicInternetOnly"


def test_the_lifecycle_config_installs_the_project_in_jupyterlab(studio: Templates) -> None:
    """StudioLifecycleConfigContent must be base64 encoded, 1 to 16,384 characters; the app type is one of
    JupyterServer | KernelGateway | CodeEditor | JupyterLab; the name follows ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateStudioLifecycleConfig.html
    LifecycleConfigArns attaches it to the domain; the default resource spec's LifecycleConfigArn is the one a
    JupyterLab app starts with. https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_JupyterLabAppSettings.html
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceSpec.html"""
    ((logical_id, config),) = resources(studio.pipeline, "AWS::SageMaker::StudioLifecycleConfig").items()
    props = config["Properties"]
    assert props["StudioLifecycleConfigAppType"] == "JupyterLab" and NAME.match(props["StudioLifecycleConfigName"])
    content = props["StudioLifecycleConfigContent"]
    assert 1 <= len(content) <= 16_384
    script = base64.b64decode(content, validate=True).decode()
    assert script.startswith("#!/bin/bash") and "nohup bash /tmp/stepml-install.sh" in script
    assert "download_file('acme-artifacts', 'dist/jobs-1.0-py3-none-any.whl'" in script
    assert "pip install --quiet /tmp/jobs-1.0-py3-none-any.whl" in script
    lab = _domain(studio)["DefaultUserSettings"]["JupyterLabAppSettings"]
    arn = {"Fn::GetAtt": [logical_id, "StudioLifecycleConfigArn"]}
    assert lab["LifecycleConfigArns"] == [arn] and lab["DefaultResourceSpec"]["LifecycleConfigArn"] == arn
    assert lab["DefaultResourceSpec"]["InstanceType"] == "ml.t3.medium"


def test_idle_jupyterlab_apps_are_shut_down(studio: Templates) -> None:
    """Apps bill per instance-hour while they run; idle shutdown (LifecycleManagement ENABLED) stops one idle for
    IdleTimeoutInMinutes, 60 to 525,600. https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_IdleSettings.html"""
    idle = _domain(studio)["DefaultUserSettings"]["JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"]
    assert idle == {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 60}


def test_studio_scripts_stay_within_the_limit_and_install_a_requirement() -> None:
    from infra.constructs.notebook import encoded
    from infra.constructs.studio import studio_script
    from stepml.errors import SpecError

    assert "pip install --quiet 'jobs[athena] >= 1.0'\n" in studio_script("jobs[athena] >= 1.0")  # quoted
    assert "pip install --quiet git+https://github.com/acme/jobs.git@v1\n" in studio_script(
        "git+https://github.com/acme/jobs.git@v1"
    )
    with pytest.raises(SpecError, match=r"deploy\.notebook\.install.*at most 16384"):
        encoded(studio_script("x" * 13_000))


def test_one_user_profile_per_listed_name(studio: Templates) -> None:
    """AWS::SageMaker::UserProfile requires DomainId and UserProfileName (pattern
    ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``, not case sensitive); SSO fields only with IAM Identity Center auth.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateUserProfile.html"""
    (domain_id,) = resources(studio.pipeline, "AWS::SageMaker::Domain")
    profiles = [p["Properties"] for p in resources(studio.pipeline, "AWS::SageMaker::UserProfile").values()]
    assert sorted(p["UserProfileName"] for p in profiles) == sorted(USERS)
    assert all(p["DomainId"] == {"Fn::GetAtt": [domain_id, "DomainId"]} for p in profiles)
    assert not any("SingleSignOnUserValue" in p for p in profiles)


def test_the_execution_role_is_the_notebooks_reader_plus_its_own_domains_apps(studio: Templates) -> None:
    """An execution role trusts sagemaker.amazonaws.com (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html).
    Its data permissions are the notebook instance's (Athena runs a query as its caller:
    https://docs.aws.amazon.com/athena/latest/ug/workgroups-iam-policy.html); SageMaker actions are on this domain's
    resources, except List* calls, which have no resource-level permissions
    (https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html)."""
    t = studio.pipeline
    role_id = _ref(_domain(studio)["DefaultUserSettings"]["ExecutionRole"])
    role = resources(t, "AWS::IAM::Role")[role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert "ManagedPolicyArns" not in role
    statements = role_statements(t, role_id)
    allowed = {a for s in statements for a in actions(s)}
    data = {a for a in allowed if not a.startswith("sagemaker:")}
    writes = {a for a in data if a.split(":")[1].startswith(("Put", "Delete", "Create", "Update"))}
    assert writes == {"s3:PutObject", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert not any(a.startswith(("iam:", "states:", "dynamodb:", "kms:")) for a in allowed)
    (put,) = [s for s in statements if "s3:PutObject" in actions(s)]
    assert json.dumps(put["Resource"]).endswith('"/athena-results/*"]]}')
    (athena,) = [s for s in statements if "athena:StartQueryExecution" in actions(s)]
    assert "workgroup/stepml-dev" in json.dumps(athena["Resource"])
    assert any(f":s3:::{WAREHOUSE}/*" in json.dumps(s["Resource"]) for s in statements if "s3:GetObject" in actions(s))
    (domain_id,) = resources(t, "AWS::SageMaker::Domain")
    for s in statements:
        if s["Resource"] == "*":
            assert all(a.startswith("sagemaker:List") for a in actions(s)), s
        elif any(a.startswith("sagemaker:") for a in actions(s)):
            assert domain_id in json.dumps(s["Resource"]), s  # the domain's ARN, or its id in the ARN
    logs = [s for s in statements if "logs:PutLogEvents" in actions(s)]
    assert [json.dumps(s["Resource"]).count("/aws/sagemaker/studio:*") for s in logs] == [1]


def test_cfn_lint_and_cdk_nag_are_clean_with_studio(studio: Templates) -> None:
    import subprocess
    import sys

    paths = sorted(str(p) for p in studio.outdir.glob("*.template.json"))
    done = subprocess.run([sys.executable, "-m", "cfnlint", "--format", "json", *paths],
                          capture_output=True, text=True, check=False)  # fmt: skip
    errors = [f for f in json.loads(done.stdout or "[]") if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    findings = []
    for report in sorted(Path(studio.outdir).glob("AwsSolutions-*-NagReport.csv")):
        with report.open(newline="") as handle:
            findings += [r for r in csv.DictReader(handle) if r["Compliance"] == "Non-Compliant"]
    assert findings == []


def test_studio_is_left_out_of_the_moto_deploy(studio: Templates, synth: Synth) -> None:
    """moto's CloudFormation has no model for the three Studio types; the reference pipeline deployed to
    moto_server declares no Studio, and the instance kind stays in the data stack."""
    found = {r["Type"] for t in (studio.data, studio.pipeline) for r in t["Resources"].values()}
    reference = {r["Type"] for t in synth.templates.values() for r in t["Resources"].values()}
    assert set(LEFT_OUT) >= STUDIO_TYPES and found >= STUDIO_TYPES and not STUDIO_TYPES & reference
    assert resources(studio.data, "AWS::SageMaker::NotebookInstance") == {}
    assert "StudioUrl" in studio.pipeline["Outputs"]
