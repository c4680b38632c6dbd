"""Train in AWS: a SageMaker training job (``createTrainingJob.sync``) running the pipeline image's entrypoint."""

from __future__ import annotations

from stepml.sdk import StepStates
from steps.train.spec import TrainStep


def build(b: StepStates) -> str:
    step = b.spec
    assert isinstance(step, TrainStep)
    source = b.upstream_of("table")
    resources = step.resources
    return b.task(
        "train",
        "arn:aws:states:::sagemaker:createTrainingJob.sync",
        {
            "TrainingJobName.$": b.job_name(),
            "RoleArn": "${SageMakerRoleArn}",
            "AlgorithmSpecification": {
                "TrainingImage": "${ImageUri}",
                "TrainingInputMode": "File",
                "ContainerEntrypoint": ["python", "-m", "steps.train.entry"],
            },
            "HyperParameters.$": b.plan("hyperparameters"),
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "ContentType": "application/x-parquet",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": b.data_uri(source),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                },
                {  # the table's committed manifest: the container checks the files above against it
                    "ChannelName": "manifest",
                    "ContentType": "application/json",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": b.plan("input_manifest"),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                },
            ],
            "OutputDataConfig": {"S3OutputPath.$": b.plan("uri")},
            "ResourceConfig": {
                "InstanceType": resources.instance_type or "ml.m5.xlarge",
                "InstanceCount": resources.instance_count,
                "VolumeSizeInGB": resources.volume_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": resources.timeout_minutes * 60},
        },
        result_selector={"job_name.$": "$.TrainingJobName", "model_uri.$": "$.ModelArtifacts.S3ModelArtifacts"},
        result_path="$.task",
        next_=b.commit,
        services=("sagemaker",),
        timeout_s=resources.timeout_minutes * 60 + 900,
        retries=resources.retries,
    )
