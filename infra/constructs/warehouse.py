"""The warehouse side: the Athena workgroup the extracts run in (its query-result location in the artifact bucket),
or the role Redshift's UNLOAD writes the artifact bucket as."""

from __future__ import annotations

from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct


class AthenaWorkgroup(Construct):
    """Creates ``name`` (unless it is Athena's built-in ``primary``); results are encrypted and expire."""

    def __init__(self, scope: Construct, id_: str, *, name: str, results_bucket: s3.IBucket) -> None:
        super().__init__(scope, id_)
        self.name = name
        if name == "primary":
            return
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=name,
            description="stepml extracts (UNLOAD to parquet in the artifact bucket)",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=results_bucket.s3_url_for_object("athena-results/"),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )


class RedshiftUnloadWriter(Construct):
    """Redshift's ``UNLOAD ... IAM_ROLE '<arn>'`` writes as that role (associated with the cluster or namespace),
    not as the state machine: the artifact bucket lets it write the pipeline's step attempts."""

    def __init__(self, scope: Construct, id_: str, *, role_arn: str, bucket: s3.IBucket, prefix: str) -> None:
        super().__init__(scope, id_)
        writer = iam.ArnPrincipal(role_arn)
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[writer],
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[bucket.arn_for_objects(f"{prefix}/*")],
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[writer], actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[bucket.bucket_arn]
            )
        )
