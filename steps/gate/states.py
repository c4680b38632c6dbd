"""The gate in AWS: the candidate registered in the SageMaker model package group, the latest Approved package as
the champion, the comparison made by ``steps.gate.core.decide`` (in the commit Lambda), approval on success."""

from __future__ import annotations

from typing import Any

from stepml.sdk import StepStates
from steps.gate.spec import GateStep


def build(b: StepStates) -> str:
    gate = b.spec
    assert isinstance(gate, GateStep)
    found = b.pipeline.context(b.name).model()
    assert found is not None
    name, model = found
    group = f"${{ModelGroupPrefix}}-{name}"  # stepml.cloud.handlers.models.group_name
    train = b.upstream_of("model")
    value = b.result(train, "summary.value")
    first = b.task(
        "register candidate",
        "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
        {
            "ModelPackageGroupName": group,
            "ModelPackageDescription.$": f"States.Format('{b.pipeline.name} {train} key {{}}', $.results.{train}.key)",
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": "${ImageUri}", "ModelDataUrl.$": b.result(train, "summary.model.uri")}],
                "SupportedContentTypes": ["application/x-parquet"],
                "SupportedResponseMIMETypes": ["application/x-parquet"],
            },
            "CustomerMetadataProperties": {
                "pipeline": b.pipeline.name,
                "metric": model.metric,
                "value.$": f"States.Format('{{}}', {value})",
                "train_key.$": b.result(train, "key"),
                "digest.$": b.result(train, "summary.model.digest"),
                "model": name,
            },
        },
        result_selector={"arn.$": "$.ModelPackageArn"},
        result_path="$.gate.candidate",
        next_=b.state("find champion"),
        services=("sagemaker",),
    )
    b.task(
        "find champion",
        "arn:aws:states:::aws-sdk:sagemaker:listModelPackages",
        {
            "ModelPackageGroupName": group,
            "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 1,
        },
        result_selector={"packages.$": "$.ModelPackageSummaryList"},
        result_path="$.gate.found",
        next_=b.state("has champion?"),
        services=("sagemaker",),
    )
    b.add(
        "has champion?",
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.gate.found.packages[0]", "IsPresent": True, "Next": b.state("read champion")}],
            "Default": b.state("no champion"),
        },
    )
    b.add(
        "no champion",
        {"Type": "Pass", "Result": {"present": False}, "ResultPath": "$.gate.champion", "Next": b.state("compare")},
    )
    b.task(
        "read champion",
        "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage",
        {"ModelPackageName.$": "$.gate.found.packages[0].ModelPackageArn"},
        result_path="$.gate.described",
        next_=b.state("champion readable?"),
        services=("sagemaker",),
    )
    # a package approved outside stepml may lack the fields the gate reads; a JSONPath selecting nothing would be a
    # States.Runtime error, which no Catch catches (the lock would stay held, no failure notice)
    metadata, model_uri = "$.gate.described.CustomerMetadataProperties", "$.gate.described.InferenceSpecification"
    b.add(
        "champion readable?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": metadata, "IsPresent": True},
                        {"Variable": f"{model_uri}.Containers[0].ModelDataUrl", "IsPresent": True},
                    ],
                    "Next": b.state("champion"),
                }
            ],
            "Default": b.state("champion unreadable"),
        },
    )
    b.add(
        "champion",
        {
            "Type": "Pass",
            "Parameters": {
                "candidate.$": "$.gate.candidate",
                "found.$": "$.gate.found",
                "champion": {
                    "present": True,
                    "arn.$": "$.gate.described.ModelPackageArn",
                    "metadata.$": metadata,
                    "model_uri.$": f"{model_uri}.Containers[0].ModelDataUrl",
                },
            },
            "ResultPath": "$.gate",
            "Next": b.state("compare"),
        },
    )
    b.add(
        "champion unreadable",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": "GateError",
                "Cause.$": f"States.Format('step {b.name}: the champion {{}} has no CustomerMetadataProperties or no "
                "model data URL; approve a package registered by stepml or reject this one', "
                "$.gate.described.ModelPackageArn)",
            },
            "ResultPath": "$.error",
            "Next": b.on_error,
        },
    )
    b.commit_lambda(
        "compare",
        {
            "action": "decide",
            "candidate.$": f"$.results.{train}",
            "champion.$": "$.gate.champion",
            "planned.$": f"$.plan.steps.{b.name}",  # what the plan resolved as the champion (in the key)
        },
        result_selector={"passed.$": "$.Payload.passed", "reasons.$": "$.Payload.reasons"},
        result_path="$.gate.decision",
        next_=b.state("promote?"),
    )
    passes: list[dict[str, Any]] = [{"Variable": "$.gate.decision.passed", "BooleanEquals": True}]
    if gate.min_value is not None:
        op = "NumericGreaterThanEquals" if model.higher_is_better else "NumericLessThanEquals"
        passes.insert(0, {"Variable": value, op: gate.min_value})
    b.add(
        "promote?",
        {
            "Type": "Choice",
            "Choices": [{"And": passes, "Next": b.state("approve")}],
            "Default": b.state("keep champion?"),
        },
    )
    b.add(
        "keep champion?",
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.gate.champion.present", "BooleanEquals": True, "Next": b.state("record")}],
            "Default": b.state("rejected"),
        },
    )
    b.add(
        "rejected",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": "GateError",
                "Cause.$": f"States.Format('step {b.name}: {{}}; there is no champion to fall back to', "
                "States.JsonToString($.gate.decision.reasons))",
            },
            "ResultPath": "$.error",
            "Next": b.on_error,
        },
    )
    b.task(
        "approve",
        "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage",
        {"ModelPackageArn.$": "$.gate.candidate.arn", "ModelApprovalStatus": "Approved"},
        result_path=None,
        next_=b.state("record"),
        services=("sagemaker",),
    )
    b.add("record", {"Type": "Pass", "InputPath": "$.gate", "ResultPath": "$.task", "Next": b.commit})
    return first
