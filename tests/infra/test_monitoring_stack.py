"""Monitoring stack: the spec's alarms with the spec's thresholds, pipeline alarms, paging, dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from aws_cdk.assertions import Match, Template

from stepml.spec import load_spec
from tests.conftest import ROOT, write_spec
from tests.infra.conftest import Synth, resources


def _alarm(template: Template, name: str) -> dict[str, object]:
    (alarm,) = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": name}}).values()
    props: dict[str, object] = alarm["Properties"]
    return props


def test_declared_alarms_have_the_spec_thresholds(synth: Synth) -> None:
    spec = load_spec(ROOT / "pipeline.yaml").spec
    assert spec.alarms  # the reference pipeline declares some
    for declared in spec.alarms:
        props = _alarm(synth.template_objs["monitoring"], f"stepml-job-matching-dev-{declared.name}")
        assert props["Threshold"] == declared.threshold
        assert props["ComparisonOperator"] == declared.comparison
        assert props["Namespace"] == "stepml"
        assert props["MetricName"] == declared.metric
        assert props["Dimensions"] == [{"Name": "Pipeline", "Value": "job-matching"}]
        assert props["TreatMissingData"] == declared.treat_missing_data
        assert props["Period"] == declared.period_minutes * 60


def test_thresholds_follow_pipeline_yaml(tmp_path: Path) -> None:
    # Given a copy of pipeline.yaml with another row-count floor, the monitoring template follows it
    import aws_cdk as cdk

    from infra.config import InfraConfig
    from infra.stacks.monitoring_stack import MonitoringStack

    raw = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["alarms"][0]["threshold"] = 4321
    pipeline = load_spec(write_spec(tmp_path / "project", raw))
    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = MonitoringStack(app, "m", config=InfraConfig(pipeline=pipeline), state_machine_name="sm")
    props = _alarm(Template.from_stack(stack), f"stepml-job-matching-dev-{raw['alarms'][0]['name']}")
    assert props["Threshold"] == 4321


def test_pipeline_failed_and_no_success_alarms(synth: Synth) -> None:
    t = synth.template_objs["monitoring"]
    failed = _alarm(t, "stepml-job-matching-dev-pipeline-failed")
    assert failed["Namespace"] == "AWS/States" and failed["MetricName"] == "ExecutionsFailed"
    stale = _alarm(t, "stepml-job-matching-dev-no-successful-run")
    assert stale["MetricName"] == "ExecutionsSucceeded"
    assert stale["TreatMissingData"] == "breaching"
    assert stale["ComparisonOperator"] == "LessThanThreshold"


def test_composite_alarm_pages_through_the_encrypted_topic(synth: Synth) -> None:
    t = synth.template_objs["monitoring"]
    t.has_resource_properties(
        "AWS::CloudWatch::CompositeAlarm",
        {
            "AlarmName": "stepml-job-matching-dev-paging",
            "AlarmActions": [Match.object_like({"Ref": Match.any_value()})],
        },
    )
    t.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_dashboard_shows_the_pipeline_metrics(synth: Synth) -> None:
    (dashboard,) = resources(synth.templates["monitoring"], "AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for title in ("Executions", "Execution time", "Null fraction per column", "Drift per feature", "Row counts"):
        assert title in body
    for needle in ("ValidationMetric", "DriftScore", "NullFraction", "desired_hourly_rate", "ExecutionTime"):
        assert needle in body


def _statements(template: dict[str, Any], type_: str, prop: str) -> list[dict[str, Any]]:
    return [s for r in resources(template, type_).values() for s in r["Properties"][prop]["Statement"]]


def _allows(statement: dict[str, Any], service: str, action: str) -> bool:
    principal = statement.get("Principal", {})
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    services = services if isinstance(services, list) else [services]
    return statement["Effect"] == "Allow" and service in services and any(a in (action, "*") for a in actions)


def test_cloudwatch_alarms_may_publish_to_the_encrypted_topic(synth: Synth) -> None:
    """AWS rule: CloudWatch alarms publish as the service principal ``cloudwatch.amazonaws.com``; the topic's access
    policy must Allow it ``sns:Publish`` (otherwise the alarm history shows "...is not authorized to perform:
    SNS:Publish"), scoped by ``aws:SourceArn`` / ``aws:SourceAccount``. A topic policy resource replaces the default
    policy, so CDK's ``enforce_ssl`` alone (a Deny) leaves no Allow. With SSE-KMS the customer managed key's policy
    must grant the same principal ``kms:Decrypt`` and ``kms:GenerateDataKey*``.
    https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
    https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    """
    template = synth.templates["monitoring"]
    assert resources(template, "AWS::CloudWatch::Alarm")  # alarms exist, so CloudWatch is a publisher
    topic_policy = _statements(template, "AWS::SNS::TopicPolicy", "PolicyDocument")
    (publish,) = [s for s in topic_policy if _allows(s, "cloudwatch.amazonaws.com", "sns:Publish")]
    condition = publish["Condition"]
    assert "aws:SourceAccount" in condition["StringEquals"]
    arn = json.dumps(condition["ArnLike"]["aws:SourceArn"])
    assert ":alarm:stepml-job-matching-dev-*" in arn  # only this pipeline's alarms (their names carry the prefix)
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in topic_policy
    )
    key_policy = _statements(template, "AWS::KMS::Key", "KeyPolicy")
    for action in ("kms:Decrypt", "kms:GenerateDataKey*"):
        assert any(_allows(s, "cloudwatch.amazonaws.com", action) for s in key_policy), action


# Step Functions publishes these per state machine (dimension StateMachineArn), namespace AWS/States
STATES_EXECUTION_METRICS = frozenset(
    {
        "ExecutionTime",
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
        "ExecutionThrottled",
        "ExecutionsRedriven",
    }
)


def _published(pipeline_name: str, check_steps: list[str], columns: list[str]) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every series the code publishes: a check run's history as the commit
    Lambda sends it (``monitoring.metrics.metric_data``), every kind of check present."""
    from monitoring.metrics import metric_data, metrics_from_report

    checks = [{"name": "max_null_fraction", "status": "pass", "value": 0.0}]
    checks += [{"name": "dataset_drift", "status": "pass", "value": 0.0}]
    for c in columns:
        checks += [
            {"name": "null_fraction", "column": c, "status": "pass", "value": 0.0},
            {"name": "nonfinite_fraction", "column": c, "status": "pass", "value": 0.0},
            {"name": "drift", "column": c, "status": "pass", "value": 0.0, "details": {"psi": 0.0}},
        ]
    profile = {"columns": {"score": {"kind": "numeric", "mean": 0.5}}}
    out = set()
    for step in check_steps:
        points = metrics_from_report(
            {"rows": 10, "checks": checks}, pipeline=pipeline_name, step=step, profile=profile, validation_metric=0.8
        )
        record = {"timestamp": 0, "datapoints": [p.to_dict() for p in points]}
        for item in metric_data(record):
            dims = frozenset(f"{d['Name']}={d['Value']}" for d in item["Dimensions"])
            out.add(("stepml", item["MetricName"], dims))
    return out


def _text(value: Any) -> str:
    """A template string with its intrinsic parts (Refs, Joins) as ``?``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_text(p) for p in parts)
    return "?"


def test_every_metric_the_dashboard_and_alarms_show_is_published(synth: Synth) -> None:
    """AWS rule: "CloudWatch treats each unique combination of dimensions as a separate metric. If a specific
    combination of dimensions was not published, you can't retrieve statistics for it. You must specify the same
    dimensions that were used when the metrics were created." A widget or alarm on anything else shows no data (an
    alarm sits in INSUFFICIENT_DATA, or breaches with ``treat_missing_data: breaching``). So every series the
    dashboard plots and every alarm watches must be one the code publishes (the check's history, sent with
    ``PutMetricData``) or Step Functions does (``AWS/States`` execution metrics per ``StateMachineArn``).
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
    https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
    """
    pipeline = load_spec(ROOT / "pipeline.yaml")
    checks = [n for n in pipeline.steps if pipeline.step(n).type == "check"]
    columns = [*(pipeline.spec.model.features if pipeline.spec.model else [])]
    published = _published(pipeline.name, checks, columns)
    machine = f":stateMachine:{synth.stacks.pipeline.state_machine.node.find_child('Resource').state_machine_name}"

    def is_published(namespace: str, name: str, dims: dict[str, str]) -> bool:
        if namespace == "AWS/States":
            return (
                name in STATES_EXECUTION_METRICS
                and set(dims) == {"StateMachineArn"}
                and dims["StateMachineArn"].endswith(machine)
            )
        return (namespace, name, frozenset(f"{k}={v}" for k, v in dims.items())) in published

    template = synth.templates["monitoring"]
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(_text(dashboard["Properties"]["DashboardBody"]))
    shown = []
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            parts = [p for p in row if not isinstance(p, dict)]
            namespace, name, flat = parts[0], parts[1], parts[2:]
            shown.append((namespace, name, dict(zip(flat[::2], flat[1::2], strict=True))))
    assert shown
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        dims = {d["Name"]: _text(d["Value"]) for d in props.get("Dimensions", [])}
        shown.append((props["Namespace"], props["MetricName"], dims))
    unpublished = [s for s in shown if not is_published(*s)]
    assert unpublished == []


def test_a_spec_alarm_on_a_metric_nothing_publishes_is_a_spec_error(tmp_path: Path) -> None:
    import pytest

    from stepml.errors import SpecError

    raw = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["alarms"][0]["metric"] = "StepDuration"  # once accepted, never published
    with pytest.raises(SpecError, match="StepDuration"):
        load_spec(write_spec(tmp_path / "project", raw))
