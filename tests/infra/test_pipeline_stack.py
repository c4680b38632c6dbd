"""Pipeline stack: the state machine compiled from the spec, its Lambdas, ECS, SageMaker, schedule, rule."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Capture, Match

from stepml.cloud.asl import compile_pipeline
from stepml.core.cron import to_eventbridge
from stepml.spec import load_spec
from tests.conftest import ROOT
from tests.infra.conftest import IMAGE_URI, Synth, handler_role_statements, resources, state_machine_definition


def test_state_machine_is_the_compiled_definition(synth: Synth) -> None:
    # Given the reference spec, when synthesized, the template holds exactly what `stepml asl` prints
    pipeline = load_spec(ROOT / "pipeline.yaml")
    definition, substitutions = state_machine_definition(synth.templates["pipeline"])
    compiled = compile_pipeline(pipeline)
    assert json.loads(definition) == compiled.definition
    assert set(substitutions) == set(compiled.substitutions)
    assert substitutions["ImageUri"] == IMAGE_URI


def test_state_machine_logs_traces_and_times_out(synth: Synth) -> None:
    synth.template_objs["pipeline"].has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "stepml-job-matching-dev",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
        },
    )


def test_lambdas_are_light_python_functions(synth: Synth) -> None:
    t = synth.template_objs["pipeline"]
    handlers = Capture()
    t.has_resource_properties("AWS::Lambda::Function", {"Runtime": "python3.14", "Handler": handlers})
    found = {
        f["Properties"]["Handler"] for f in resources(synth.templates["pipeline"], "AWS::Lambda::Function").values()
    }
    assert found == {
        "stepml.cloud.handlers.plan.handler",
        "stepml.cloud.handlers.commit.handler",
        "stepml.cloud.handlers.notify.handler",
    }


def test_fargate_task_definitions_take_cpu_and_memory_from_the_spec(synth: Synth) -> None:
    t = synth.template_objs["pipeline"]
    pipeline = load_spec(ROOT / "pipeline.yaml")
    for name in ("score", "check"):
        res = pipeline.step(name).resources
        t.has_resource_properties(
            "AWS::ECS::TaskDefinition",
            {
                "Family": f"stepml-job-matching-dev-{name}",
                "Cpu": str(res.cpu),
                "Memory": str(res.memory),
                "RequiresCompatibilities": ["FARGATE"],
                "ContainerDefinitions": [
                    Match.object_like(
                        {
                            "Image": IMAGE_URI,
                            "Command": ["python", "-m", "stepml.cloud.task"],  # the one task adapter
                            "Environment": Match.array_with(
                                [
                                    {"Name": "STEPML_STEP", "Value": name},
                                    {"Name": "STEPML_CODE_DIGEST", "Value": pipeline.code_digest(name).digest},
                                ]
                            ),
                        }
                    )
                ],
            },
        )


def test_tasks_may_pull_the_prebuilt_image_from_its_ecr_repository(synth: Synth) -> None:
    t = synth.template_objs["pipeline"]
    execution_roles = {
        json.dumps(d["Properties"]["ContainerDefinitions"][0]["Image"]): d["Properties"]["ExecutionRoleArn"]
        for d in resources(t.to_json(), "AWS::ECS::TaskDefinition").values()
    }
    assert list(execution_roles) == [json.dumps(IMAGE_URI)]  # one role for both task definitions
    role = next(iter(execution_roles.values()))["Fn::GetAtt"][0]
    policies = [
        p for p in resources(t.to_json(), "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Action": "ecr:GetAuthorizationToken", "Effect": "Allow", "Resource": "*"} in statements
    assert {
        "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Effect": "Allow",
        "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/stepml",
    } in statements


def test_schedule_uses_the_spec_cron_and_time_zone(synth: Synth) -> None:
    daily = load_spec(ROOT / "pipeline.yaml").spec.schedules["daily"]
    synth.template_objs["pipeline"].has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "Name": "stepml-job-matching-dev-daily",
            "ScheduleExpression": to_eventbridge(daily.cron),
            "ScheduleExpressionTimezone": "Asia/Tokyo",
            "Target": Match.object_like(
                {
                    "Input": json.dumps(
                        {
                            "params": {"as_of": "run_date - 1 day", "score_days": 1},
                            "schedule": "daily",
                            "scheduled_time": "<aws.scheduler.scheduled-time>",
                        },
                        sort_keys=True,
                    )
                }
            ),
        },
    )


def test_execution_status_changes_reach_the_notify_function(synth: Synth) -> None:
    synth.template_objs["pipeline"].has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": Match.object_like({"status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]}),
                }
            )
        },
    )


def test_model_package_group_per_model_the_pipeline_gates(synth: Synth) -> None:
    """One group per model, named ``stepml-<stage>-<model>`` (stage-scoped, shared by the project's pipelines)."""
    synth.template_objs["pipeline"].has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "stepml-dev-job-matching"}
    )


def test_the_state_machine_may_tag_the_tasks_it_runs(synth: Synth) -> None:
    """RunTask with ``PropagateTags`` tags the task it starts, and AWS then also authorizes ``ecs:TagResource`` for
    the caller - the state machine's role, which the Step Functions ECS policy template leaves without it. AWS:
    "if the user attempts to create a resource with tags, the request fails if the user does not have permissions
    to use the ecs:TagResource action"; it may be scoped with the condition ``ecs:CreateAction``.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html"""
    template = synth.templates["pipeline"]
    definition, _ = state_machine_definition(template)
    assert '"PropagateTags": "TASK_DEFINITION"' in definition  # the tagging RunTask the rule is about
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    tagging = [s for s in statements if s["Action"] == "ecs:TagResource"]
    assert len(tagging) == 1 and tagging[0]["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    assert ":task/" in json.dumps(tagging[0]["Resource"])  # the tasks of this cluster, not "*"


def test_a_missing_manifest_is_a_no_such_key_for_the_state_machine(synth: Synth) -> None:
    """The cache check reads a miss only from ``NoSuchKey`` (anything else fails the step). AWS: "If the object you
    request doesn't exist, the error that Amazon S3 returns depends on whether you also have the s3:ListBucket
    permission": 404 NoSuchKey with it, 403 AccessDenied without - so the role must hold s3:ListBucket on the
    artifact bucket, or every miss would fail the run.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html"""
    template = synth.templates["pipeline"]
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    listing = [
        s
        for s in statements
        if any(
            a in ("s3:List*", "s3:ListBucket")
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
    ]
    assert listing and any("Artifacts" in json.dumps(s["Resource"]) for s in listing)  # the artifact bucket


def test_the_plan_lambda_may_read_the_manifest_heads_and_learn_a_step_is_not_committed(synth: Synth) -> None:
    """The plan Lambda's fast path reads each step's manifest head (``stepml.cloud.handlers.fastpath``). AWS: "If
    the object you request doesn't exist, the error that Amazon S3 returns depends on whether you also have the
    s3:ListBucket permission" - 404 NoSuchKey with it, 403 AccessDenied without; GetObject itself needs
    ``s3:GetObject`` on the object. https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html"""
    statements = handler_role_statements(synth.templates["pipeline"], "plan.handler")

    def actions(s: dict[str, Any]) -> list[str]:
        return s["Action"] if isinstance(s["Action"], list) else [s["Action"]]

    heads = [s for s in statements if "s3:GetObject" in actions(s) and "_manifest.head.json" in json.dumps(s)]
    assert heads and "job-matching/steps/*/_manifest.head.json" in json.dumps(heads[0]["Resource"])
    listing = [
        s
        for s in statements
        if "s3:ListBucket" in actions(s) and "Condition" not in s and "/" not in json.dumps(s["Resource"])
    ]
    assert any("Artifacts" in json.dumps(s["Resource"]) for s in listing), statements


def test_the_state_machine_may_write_the_map_runs_results(synth: Synth) -> None:
    """The score step's Distributed Map exports its children's results with a ResultWriter (its output would pass
    256 KiB otherwise). AWS: the role needs ``s3:PutObject``, ``s3:GetObject``, ``s3:ListMultipartUploadParts``
    and ``s3:AbortMultipartUpload`` on the prefix ("Distributed Map state uses multipart uploads to write the child
    workflow execution results"), else the Map fails with ``States.ResultWriterFailed``.
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html ;
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html"""
    from fnmatch import fnmatchcase

    template = synth.templates["pipeline"]
    definition, _ = state_machine_definition(template)
    assert '"Resource": "arn:aws:states:::s3:putObject"' in definition  # the ResultWriter the rule is about
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and "Artifacts" in json.dumps(s["Resource"]) and "/*" in json.dumps(s["Resource"])
    ]
    granted = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    for needed in ("s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"):
        assert any(fnmatchcase(needed, a) for a in granted), needed
