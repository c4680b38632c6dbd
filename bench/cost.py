"""What one execution of the compiled state machine costs, counted from its definition, and the fixed monthly cost.

    .venv/bin/python -m bench.cost                      # the reference pipeline (pipeline.yaml)
    .venv/bin/python -m bench.cost -f examples/job_matching/models.yaml --no-fixed

Per scenario it walks the compiled definition (``stepml.cloud.asl.compile_definition``, no AWS call) the way an
execution goes through it and counts state transitions (every state entered, Parallel and Map states and the
states inside their branches and iterations included; a Distributed Map's child executions are Standard
workflows, billed alike) and Lambda invocations:

- ``cached``    every step's manifest is there (a scheduled re-run with nothing new)
- ``computing`` every step runs (cache misses, locks free, the gate promotes, one task per partition)
- ``waiting N`` all cached but one step whose lock another run holds for N minutes (then committed): the waiter
                registers a task token and is woken by the release, checking its holder every LIVENESS_SECONDS

The plan Lambda's data-version probes (per extract source: Glue GetTable + S3 ListObjectsV2 pages, plus the
optional probe query on Athena) and champion look-ups (SageMaker ListModelPackages + DescribeModelPackage) are
API calls of that one Lambda invocation, counted separately. The fixed monthly cost counts the resources of the
synthesized stacks that bill per hour or month (``--no-fixed`` skips the synth; ``--network nat|endpoints|public``
prices another VPC shape than the spec's ``deploy.network``).

Prices: us-east-1, on-demand, without free tiers; each constant names its page, or says it is unverified
(docs/deploy.md, "Cost").
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepml.cloud.asl import compile_definition
from stepml.cloud.asl.locks import LIVENESS_SECONDS
from stepml.cloud.asl.shape import parallels, shape
from stepml.cloud.handlers.fastpath import ALL_CACHED_CHOICE
from stepml.core.plan import order
from stepml.spec import Pipeline, load_spec

ROOT = Path(__file__).resolve().parents[1]
HOURS = 730  # hours in a month, as AWS's pricing examples count them

# Prices: us-east-1, on-demand, no free tier. Each names the page it was checked against; "unverified" means no AWS
# page in the reference corpora states the figure (the pricing pages render their rate tables client-side) and
# only third-party pages were found quoting it - docs/deploy.md, "Cost", says which.
# https://aws.amazon.com/step-functions/pricing/ ("$0.025 per 1,000 state transitions", US East $0.0250)
TRANSITION = 0.025 / 1000  # Step Functions Standard, per state transition
# unverified: https://aws.amazon.com/lambda/pricing/ (rate table not in the corpora; third-party pages agree)
LAMBDA_REQUEST = 0.20 / 1_000_000  # per request
# unverified: as above; Arm, first 7.5 billion GB-seconds a month (tiers from
# https://aws.amazon.com/blogs/compute/introducing-tiered-pricing-for-aws-lambda/)
LAMBDA_GB_S = 0.0000133334
# unverified: https://aws.amazon.com/s3/pricing/ (rate table not in the corpora; third-party pages agree)
S3_LIST = 0.005 / 1000  # ListObjectsV2 (S3 Standard, per request)
S3_GET = 0.0004 / 1000  # GetObject (the cache checks)
# https://aws.amazon.com/cn/lake-formation/pricing/ (Data Catalog example: a million requests above the free tier, $1)
GLUE_REQUEST = 1.0 / 1_000_000  # Data Catalog requests beyond the first million a month
# unverified: https://aws.amazon.com/dynamodb/pricing/on-demand/ (not in the corpora; third-party pages quote these
# figures after the November 2024 on-demand price cut)
DDB_WRITE = 0.625 / 1_000_000  # on-demand write request unit
DDB_READ = 0.125 / 1_000_000  # on-demand read request unit
# https://aws.amazon.com/jp/athena/pricing/ (USD 5 per TB scanned, rounded up to the MB, 10 MB minimum per query)
ATHENA_TB = 5.0
OLD_POLL = (7, 30)  # before: a waiter looped 7 transitions every 30 s

# CloudFormation type -> (USD per unit per month, what, the page); the unit is the resource, except an alarm's
# metric and an interface endpoint's Availability Zone (see fixed_monthly)
MONTHLY: dict[str, tuple[float, str, str]] = {
    "AWS::EC2::NatGateway": (
        0.045 * HOURS,
        "NAT gateway, $0.045 per hour (plus $0.045 per GB processed) - unverified",
        "https://aws.amazon.com/vpc/pricing/",
    ),
    "AWS::EC2::EIP": (
        0.005 * HOURS,
        "public IPv4 address (the NAT gateway's), $0.005 per hour - unverified",
        "https://aws.amazon.com/blogs/networking-and-content-delivery/identify-and-optimize-public-ipv4-address-usage-on-aws/",
    ),
    "AWS::KMS::Key": (
        1.0,
        "customer managed KMS key, $1 per month (each yearly rotation adds $1 per month; requests extra)",
        "https://aws.amazon.com/kms/pricing/",
    ),
    "AWS::CloudWatch::Dashboard": (
        3.0,
        "CloudWatch dashboard, $3 per month - unverified",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "AWS::CloudWatch::Alarm": (
        0.10,
        "CloudWatch alarm metric (standard resolution), $0.10 per month - unverified",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "AWS::CloudWatch::CompositeAlarm": (
        0.50,
        "CloudWatch composite alarm, $0.50 per month - unverified",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "AWS::SecretsManager::Secret": (
        0.40,
        "Secrets Manager secret, $0.40 per month - unverified",
        "https://aws.amazon.com/secrets-manager/pricing/",
    ),
    "AWS::EC2::VPCEndpoint": (
        0.01 * HOURS,
        "interface VPC endpoint, $0.01 per Availability Zone and hour (plus $0.01 per GB) - hourly rate unverified",
        "https://aws.amazon.com/privatelink/pricing/",
    ),
    "AWS::SageMaker::Domain": (
        0.0,
        "SageMaker Studio domain: free; its JupyterLab apps bill per instance-hour while running (idle shutdown "
        "stops them) and its EFS home volume per GB-month",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/notebooks-usage-metering.html",
    ),
}
# resources that bill by the hour of an instance type whose price is not in the corpora: listed, not priced
UNPRICED: dict[str, str] = {
    "AWS::SageMaker::NotebookInstance": "SageMaker notebook instance: its instance type's hourly price while "
    "InService, plus its EBS volume (stop it when unused)",
}


@dataclass
class Count:
    transitions: int = 0
    lambdas: int = 0
    s3_gets: int = 0
    ddb_writes: int = 0
    ddb_reads: int = 0
    states: list[str] = field(default_factory=list)

    def add(self, other: Count, times: int = 1) -> None:
        self.transitions += other.transitions * times
        self.lambdas += other.lambdas * times
        self.s3_gets += other.s3_gets * times
        self.ddb_writes += other.ddb_writes * times
        self.ddb_reads += other.ddb_reads * times
        self.states.extend(other.states * times)

    @property
    def usd(self) -> float:
        lambda_s = self.lambdas * (LAMBDA_REQUEST + 0.5 * 0.256 * LAMBDA_GB_S)  # ~0.5 s at 256 MB
        ddb = self.ddb_writes * DDB_WRITE + self.ddb_reads * DDB_READ
        return self.transitions * TRANSITION + lambda_s + self.s3_gets * S3_GET + ddb


Decide = Callable[[str, Mapping[str, Any], dict[str, int]], str | None]


@dataclass
class Scenario:
    """How an execution goes: which steps are cached, which one waits and for how many liveness checks."""

    name: str
    cached: set[str]
    steps: tuple[str, ...] = ()  # every step, in plan order (the plan Lambda reads their heads in it)
    waits: dict[str, int] = field(default_factory=dict)  # step -> liveness checks before its holder's release
    items: int = 1  # Map iterations (partitions of a Distributed Map; tokens of a wake-up)

    @property
    def plan_gets(self) -> int:
        """The manifest heads the plan Lambda reads: up to the first step not committed (or waited for)."""
        for i, step in enumerate(self.steps):
            if step not in self.cached or step in self.waits:
                return i + 1
        return len(self.steps)

    def next(self, name: str, state: Mapping[str, Any], seen: dict[str, int]) -> str | None:
        step, _, phase = name.partition(": ")
        kind = state["Type"]
        if kind == "Choice":
            if name == ALL_CACHED_CHOICE:  # the plan found every step committed (the fast path)
                everything = not self.waits and self.cached >= set(self.steps)
                return str(state["Choices"][0]["Next"] if everything else state["Default"])
            if name == "Input" or phase in ("still held?", "holder alive?"):
                return str(state["Choices"][0]["Next"])
            if phase == "cache valid?":
                return str(state["Choices"][0]["Next"] if step in self.cached else state["Default"])
            if phase.startswith(("recheck valid?", "waiters?", "failed?")):  # (a Parallel state's: no branch failed)
                return str(state["Default"])
            return str(state["Choices"][0]["Next"])  # a type's own choice: its usual path
        if phase == "cache check" and (step not in self.cached or step in self.waits) and seen[name] == 1:
            return _catch(state, "S3.NoSuchKeyException")
        if phase == "recheck":
            return _catch(state, "S3.NoSuchKeyException")
        if phase == "lock" and step in self.waits and seen[name] == 1:
            return _catch(state, "DynamoDB.ConditionalCheckFailedException")
        if phase == "wait for release" and seen[name] <= self.waits.get(step, 0):
            return _catch(state, "States.Timeout")
        return state.get("Next")


def _catch(state: Mapping[str, Any], error: str) -> str:
    return next(str(c["Next"]) for c in state["Catch"] if error in c["ErrorEquals"])


def walk(states: Mapping[str, Any], start: str, scenario: Scenario, seen: dict[str, int] | None = None) -> Count:
    """The transitions and Lambda invocations of going through ``states`` from ``start``."""
    seen = seen if seen is not None else {}
    count, name = Count(), start
    for _ in range(100_000):
        state = states[name]
        seen[name] = seen.get(name, 0) + 1
        count.transitions += 1
        count.states.append(name)
        kind, resource = state["Type"], str(state.get("Resource", ""))
        if resource.endswith(":lambda:invoke"):
            count.lambdas += 1
        if resource.endswith("s3:getObject"):
            count.s3_gets += 1
        if ":dynamodb:" in resource:
            writes = any(w in resource for w in ("updateItem", "putItem", "deleteItem"))
            count.ddb_writes += 1 if writes else 0
            count.ddb_reads += 0 if writes else 1
        if kind == "Parallel":
            for branch in state["Branches"]:
                count.add(walk(branch["States"], branch["StartAt"], scenario, seen))
        if kind == "Map":
            inner = state["ItemProcessor"]
            count.add(walk(inner["States"], inner["StartAt"], scenario, seen), times=scenario.items)
        if kind in ("Succeed", "Fail") or state.get("End"):
            return count
        following = scenario.next(name, state, seen)
        if following is None:
            return count
        name = following
    raise RuntimeError(f"no end after 100,000 states: {count.states[-10:]}")


def scenarios(pipeline: Pipeline, minutes: tuple[int, ...] = (10, 60, 480)) -> list[Scenario]:
    steps = set(pipeline.steps)
    ordered = tuple(s.name for s in order(pipeline.plan_input.steps))
    waiter = "train" if "train" in steps else sorted(steps)[0]
    partitions = max((getattr(s, "partitions", 1) or 1 for s in pipeline.steps.values()), default=1)
    out = [Scenario("cached", steps, ordered), Scenario("computing", set(), ordered, items=partitions)]
    for m in minutes:
        checks = (m * 60) // LIVENESS_SECONDS
        out.append(Scenario(f"waiting {m} min ({waiter})", steps, ordered, waits={waiter: checks}))
    return out


def execution_costs(pipeline: Pipeline) -> list[tuple[Scenario, Count]]:
    definition = compile_definition(pipeline)
    out = []
    for s in scenarios(pipeline):
        count = walk(definition["States"], definition["StartAt"], s)
        count.s3_gets += s.plan_gets  # the plan Lambda's look at the manifest heads (the fast path)
        out.append((s, count))
    return out


def lookups(pipeline: Pipeline) -> dict[str, int]:
    """API calls the plan Lambda makes per execution: probes per extract source table, champion look-ups."""
    plan_input = pipeline.plan_input
    tables = probes = champions = 0
    for record in plan_input.steps:
        lookup = record.lookup or {}
        tables += len(lookup.get("tables") or ())
        probes += 1 if lookup.get("probe") else 0
        champions += 1 if lookup.get("model") or lookup.get("alias") else 0
    return {"source tables": tables, "probe queries": probes, "champion look-ups": champions}


def fixed_monthly(
    pipeline_spec: Path, network: str | None = None
) -> tuple[list[tuple[str, int, float, str]], list[str]]:
    """Resources of the synthesized stacks that bill by the hour or month: (type, units, USD per month, what), and
    notes for those billed by an instance-hour not priced here; ``network``: the VPC's shape instead of the spec's
    ``deploy.network`` (``-c network=...``)."""
    import json
    import os
    import tempfile

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk

    from infra.app import build, config_from_context

    with tempfile.TemporaryDirectory(prefix="stepml-cost-") as tmp:
        context = {"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/stepml:x"}
        if pipeline_spec.resolve() != (ROOT / "pipeline.yaml").resolve():
            context["spec"] = str(pipeline_spec)
        if network is not None:
            context["network"] = network
        app = cdk.App(outdir=tmp, context=context)
        build(app, config_from_context(app), nag=False)
        app.synth()
        templates = [json.loads(t.read_text()) for t in sorted(Path(tmp).glob("*.template.json"))]
        return price(templates), unpriced(templates)


def billed_units(resource: Mapping[str, Any]) -> int:
    """How many of ``MONTHLY``'s units one resource of the template is: an alarm bills per metric it reads (metric
    math expressions are free), an interface endpoint per Availability Zone (subnet) it is in, a gateway endpoint
    (S3, DynamoDB) nothing."""
    kind, props = resource["Type"], resource.get("Properties", {})
    if kind == "AWS::CloudWatch::Alarm" and "Metrics" in props:
        return sum(1 for m in props["Metrics"] if "MetricStat" in m)
    if kind == "AWS::EC2::VPCEndpoint":
        return len(props.get("SubnetIds", [])) if props.get("VpcEndpointType") == "Interface" else 0
    return 1


def price(templates: list[Mapping[str, Any]]) -> list[tuple[str, int, float, str]]:
    """The resources of ``templates`` that bill by the hour or month: (type, units, USD per month, what). A Fargate
    task's public IP (``network: public``) bills $0.005 per hour while the task runs: usage, not a fixed cost."""
    found: dict[str, int] = {}
    for template in templates:
        for res in template.get("Resources", {}).values():
            if res["Type"] in MONTHLY and billed_units(res):
                found[res["Type"]] = found.get(res["Type"], 0) + billed_units(res)
    return [(t, n, n * MONTHLY[t][0], MONTHLY[t][1]) for t, n in sorted(found.items())]


def unpriced(templates: list[Mapping[str, Any]]) -> list[str]:
    """Notes for the resources of ``templates`` that bill by an instance-hour this script does not price."""
    kinds = {res["Type"] for t in templates for res in t.get("Resources", {}).values()}
    return [UNPRICED[k] for k in sorted(kinds & set(UNPRICED))]


def report(spec: Path, *, fixed: bool = True, network: str | None = None) -> str:
    pipeline = load_spec(spec)
    n = len(pipeline.steps)
    records = order(pipeline.plan_input.steps)
    graph = shape([s.name for s in records], {s.name: s.needs for s in records})
    lines = [
        f"pipeline {pipeline.name}: {n} steps, {parallels(graph)} Parallel state(s); liveness check every "
        f"{LIVENESS_SECONDS} s",
        "",
        "| scenario | state transitions | Lambda invocations | S3 GETs | DynamoDB writes/reads | USD per execution |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scenario, count in execution_costs(pipeline):
        lines.append(
            f"| {scenario.name} | {count.transitions} | {count.lambdas} | {count.s3_gets} | "
            f"{count.ddb_writes}/{count.ddb_reads} | {count.usd:.6f} |"
        )
    for m in (10, 60, 480):
        polls = math.ceil(m * 60 / OLD_POLL[1]) * OLD_POLL[0]
        lines.append(
            f"| before (polling), waiting {m} min: the wait alone | {polls} | - | - | - | {polls * TRANSITION:.6f} |"
        )
    calls = lookups(pipeline)
    per_table = 1 * GLUE_REQUEST + 1 * S3_LIST  # GetTable + one ListObjectsV2 page (1,000 objects)
    lines += [
        "",
        "Inside the one plan Lambda invocation (not state transitions): "
        + ", ".join(f"{v} {k}" for k, v in calls.items())
        + f". A source table costs a Glue GetTable and one S3 ListObjectsV2 page per 1,000 objects "
        f"(${per_table:.7f} per table and page); a probe query is an Athena query (billed per data scanned, "
        f"10 MB minimum: ${ATHENA_TB * 10 / 1_000_000:.5f} at ${ATHENA_TB:.0f} per TB); SageMaker "
        f"ListModelPackages/DescribeModelPackage calls are free.",
    ]
    if fixed:
        rows, notes = fixed_monthly(spec, network)
        total = sum(r[2] for r in rows)
        mode = network or pipeline.spec.deploy.network
        lines += ["", f"| fixed monthly cost (synthesized stacks, network: {mode}) | units | USD per month |"]
        lines += ["|---|---:|---:|"]
        lines += [f"| {what} | {count} | {usd:.2f} |" for _, count, usd, what in rows]
        lines.append(f"| total | | {total:.2f} |")
        lines += [f"\nNot priced here: {note}." for note in notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--file", type=Path, default=ROOT / "pipeline.yaml")
    parser.add_argument("--no-fixed", action="store_true", help="skip the synth (fixed monthly cost)")
    parser.add_argument("--network", choices=("nat", "endpoints", "public"), help="instead of deploy.network")
    args = parser.parse_args(argv)
    print(report(args.file, fixed=not args.no_fixed, network=args.network))
    return 0


if __name__ == "__main__":
    sys.exit(main())
