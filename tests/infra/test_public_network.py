"""The ``public`` network (``-c network=public`` / ``deploy.network: public``) on the synthesized templates: public
subnets only, no NAT gateway, no interface endpoint, tasks with public IPs behind an egress-only security group;
cfn-lint and cdk-nag stay clean; the fixed monthly cost drops the NAT gateway (aws-rules §31)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.cost import price
from stepml.cloud.asl import named_states, resolve
from tests.infra.conftest import IMAGE_URI, Synth, resources, state_machine_definition

RUN_TASK = "arn:aws:states:::ecs:runTask.sync"


@dataclass
class Public:
    outdir: Path
    templates: dict[str, dict[str, Any]]

    @property
    def pipeline(self) -> dict[str, Any]:
        return self.templates["pipeline"]


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Public:
    """The reference pipeline with ``-c network=public``: the context sets the spec's ``deploy.network``, so the
    VPC and the compiled RunTask parameters come from one value."""
    import aws_cdk as cdk

    from infra.app import build, config_from_context

    outdir = tmp_path_factory.mktemp("public") / "cdk.out"
    app = cdk.App(outdir=str(outdir), context={"image_uri": IMAGE_URI, "network": "public"})
    stacks = build(app, config_from_context(app), nag=True)
    app.synth()
    templates = {
        k: json.loads((outdir / f"{getattr(stacks, k).stack_name}.template.json").read_text())
        for k in ("data", "monitoring", "pipeline")
    }
    return Public(outdir, templates)


def _ref(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Ref"}, value
    return str(value["Ref"])


def test_public_subnets_only_with_a_route_to_the_internet_gateway_and_no_nat(public: Public) -> None:
    """A public subnet is one whose route table routes to an internet gateway; the tasks need no NAT gateway and
    no interface endpoint there, only a public IP each (the RunTask parameters, next test). The subnets do not map
    public IPs on launch: only a task that asks gets one (and its $0.005 per hour).
    https://docs.aws.amazon.com/vpc/latest/userguide/configure-subnets.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html"""
    t = public.pipeline
    assert resources(t, "AWS::EC2::NatGateway") == {} and resources(t, "AWS::EC2::EIP") == {}
    endpoints = [e["Properties"] for e in resources(t, "AWS::EC2::VPCEndpoint").values()]
    assert [e.get("VpcEndpointType", "Gateway") for e in endpoints] == ["Gateway"]  # S3's, free
    assert ".s3" in json.dumps(endpoints[0]["ServiceName"])
    (gateway,) = resources(t, "AWS::EC2::InternetGateway")
    subnets = resources(t, "AWS::EC2::Subnet")
    assert len(subnets) == 2  # one per AZ (max_azs), all of them public
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    routes_to_igw = {
        _ref(r["Properties"]["RouteTableId"])
        for r in resources(t, "AWS::EC2::Route").values()
        if r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
        and r["Properties"].get("GatewayId") == {"Ref": gateway}
    }
    associations = {
        _ref(a["Properties"]["SubnetId"]): _ref(a["Properties"]["RouteTableId"])
        for a in resources(t, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    assert set(associations) == set(subnets)
    assert all(table in routes_to_igw for table in associations.values())


def test_the_tasks_get_a_public_ip_in_those_subnets_behind_an_egress_only_group(public: Public) -> None:
    """A Fargate task in a public subnet pulls its image only with a public IP on its ENI; RunTask's
    ``assignPublicIp`` is DISABLED unless set. A security group without inbound rules denies all inbound traffic
    (security groups are stateful: responses to the task's own requests come back).
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html
    https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html"""
    t = public.pipeline
    text, substitutions = state_machine_definition(t)
    tasks = [s for s in named_states(resolve(json.loads(text))["States"]).values() if s.get("Resource") == RUN_TASK]
    assert len(tasks) == 2
    assert {s["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] for s in tasks} == {
        "ENABLED"
    }
    subnets = set(resources(t, "AWS::EC2::Subnet"))
    assert {_ref(substitutions[f"Subnet{i}"]) for i in range(2)} == subnets  # the public subnets
    group_id = substitutions["SecurityGroupId"]["Fn::GetAtt"][0]
    group = resources(t, "AWS::EC2::SecurityGroup")[group_id]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}
    ]
    ingress = resources(t, "AWS::EC2::SecurityGroupIngress").values()
    assert not [i for i in ingress if group_id in json.dumps(i["Properties"]["GroupId"])]


def test_cfn_lint_and_cdk_nag_stay_clean(public: Public) -> None:
    paths = sorted(str(p) for p in public.outdir.glob("*.template.json"))
    done = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", *paths], capture_output=True, text=True, check=False
    )
    errors = [f for f in json.loads(done.stdout or "[]") if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    reports = sorted(public.outdir.glob("AwsSolutions-*-NagReport.csv"))
    assert len(reports) == 3
    open_findings = []
    for report in reports:
        with report.open(newline="") as handle:
            open_findings += [r for r in csv.DictReader(handle) if r["Compliance"] == "Non-Compliant"]
    assert open_findings == []


def test_the_fixed_monthly_cost_has_no_nat_gateway_nor_its_address(public: Public, synth: Synth) -> None:
    """NAT gateway $0.045 per hour; every public IPv4 address, the NAT gateway's Elastic IP included, $0.005 per
    hour; interface endpoints $0.01 per AZ-hour; gateway endpoints free. https://aws.amazon.com/vpc/pricing/
    https://aws.amazon.com/privatelink/pricing/"""
    nat = {kind: usd for kind, _, usd, _ in price(list(synth.templates.values()))}
    none = {kind: usd for kind, _, usd, _ in price(list(public.templates.values()))}
    assert nat["AWS::EC2::NatGateway"] == pytest.approx(32.85) and nat["AWS::EC2::EIP"] == pytest.approx(3.65)
    assert not {"AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::VPCEndpoint"} & set(none)
    assert sum(nat.values()) - sum(none.values()) == pytest.approx(32.85 + 3.65)


def test_a_context_network_that_is_none_of_the_three_is_a_named_error() -> None:
    from infra.config import with_network
    from stepml.errors import SpecError
    from stepml.spec import load_spec
    from tests.conftest import ROOT

    pipeline = load_spec(ROOT / "pipeline.yaml")
    with pytest.raises(SpecError, match=r"context network.*'private'.*nat, endpoints, public"):
        with_network(pipeline, "private")
    assert with_network(pipeline, "public").spec.deploy.network == "public"
    assert pipeline.spec.deploy.network == "nat"  # the loaded pipeline is left as it was
