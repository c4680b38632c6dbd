"""Monitoring stack: the spec's alarms with the spec's thresholds, pipeline alarms, paging, dashboard."""

from __future__ import annotations

from pathlib import Path

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
    for title in ("Executions", "Step duration", "Null fraction per column", "Drift per feature", "Row counts"):
        assert title in body
    for needle in ("ValidationMetric", "DriftScore", "NullFraction", "desired_hourly_rate", "StepDuration"):
        assert needle in body
