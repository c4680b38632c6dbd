"""bench/cost.py's fixed monthly cost: what one template resource bills as, and where each price comes from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.cost import MONTHLY, billed_units

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("resource", "units"),
    [
        # an alarm bills per metric it reads, a metric-math expression is not a metric
        ({"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "ExecutionsFailed"}}, 1),
        (
            {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Metrics": [
                        {"Id": "a", "MetricStat": {}},
                        {"Id": "b", "MetricStat": {}},
                        {"Id": "e", "Expression": "a+b"},
                    ]
                },
            },
            2,
        ),
        # an interface endpoint bills per Availability Zone (one subnet each), a gateway endpoint nothing
        (
            {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b", "c"]},
            },
            3,
        ),
        ({"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway", "RouteTableIds": ["r"]}}, 0),
        ({"Type": "AWS::EC2::NatGateway", "Properties": {}}, 1),
    ],
)
def test_billed_units(resource: dict[str, object], units: int) -> None:
    assert billed_units(resource) == units


def test_every_monthly_price_names_its_page_and_the_docs_say_which_are_unverified() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    for kind, (_, what, page) in MONTHLY.items():
        assert page.startswith("https://"), kind
        if "unverified" in what:
            assert page in deploy, (kind, page)
    source = (ROOT / "bench" / "cost.py").read_text()
    constants = re.findall(r"^([A-Z_]+) = [\d.]", source, flags=re.M)
    for name in constants:
        if name in ("HOURS", "ROOT"):
            continue
        before = source[: source.index(f"\n{name} = ")].rsplit("\n", 3)[-3:]
        assert any("https://" in line for line in before), name  # each price has its page just above it
