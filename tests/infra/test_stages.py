"""Two stages of one pipeline deploy side by side in one account and region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import IMAGE_URI

# properties holding a name that AWS keeps unique per account and region (or globally, for buckets)
NAME_PROPERTIES = {
    "AWS::Athena::WorkGroup": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::CompositeAlarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::TaskDefinition": "Family",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::Scheduler::ScheduleGroup": "Name",
}


def _names(tmp: Path, stage: str, spec: Path | None = None) -> dict[str, str]:
    """Every explicit account-unique name of a stage's three stacks (and the stack names), name -> where."""
    import json

    import aws_cdk as cdk

    from infra.app import build, config_from_context

    context = {"image_uri": IMAGE_URI, "stage": stage, **({"spec": str(spec)} if spec else {})}
    app = cdk.App(outdir=str(tmp / stage), context=context)
    stacks = build(app, config_from_context(app), nag=False)
    app.synth()
    out: dict[str, str] = {}
    for kind in ("data", "monitoring", "pipeline"):
        stack = getattr(stacks, kind)
        out[f"stack {stack.stack_name}"] = kind
        template: dict[str, Any] = json.loads((tmp / stage / f"{stack.stack_name}.template.json").read_text())
        for logical, resource in template["Resources"].items():
            prop = NAME_PROPERTIES.get(resource["Type"])
            value = resource.get("Properties", {}).get(prop) if prop else None
            if value is not None:
                out[json.dumps(value, sort_keys=True)] = f"{kind}/{logical}"
    return out


@pytest.mark.slow
def test_a_prod_and_a_dev_stage_synthesize_without_name_clashes(tmp_path: Path) -> None:
    """AWS rules: names of state machines "must be unique for your account and AWS Region"; an Athena workgroup's
    name is "A unique name" that cannot be changed; CloudFormation fails a stack that creates a named resource
    whose name another stack holds. So every explicit name carries the stage - EventBridge Scheduler schedule
    names too: a schedule is addressed by its group and name (the stacks use the default group), its ARN is
    ``schedule/<group>/<name>`` (docs/aws-rules.md section 8).
    https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
    https://docs.aws.amazon.com/athena/latest/ug/workgroups-settings.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html
    """
    # Given the reference pipeline with a second schedule ("train weekly" beside its daily run)
    from tests.infra.test_schedules import two_schedules

    spec = two_schedules(tmp_path / "spec")
    prod, dev = _names(tmp_path, "prod", spec), _names(tmp_path, "dev", spec)
    assert any("WorkGroup" in where for where in dev.values())  # the reference pipeline creates its workgroup
    assert {'"stepml-job-matching-dev-daily"', '"stepml-job-matching-dev-weekly"'} <= dev.keys()  # both schedules
    clashes = {name: (prod[name], dev[name]) for name in prod.keys() & dev.keys()}
    assert clashes == {}
