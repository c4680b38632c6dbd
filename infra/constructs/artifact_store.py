"""The artifact bucket (manifests, step outputs, models) with an access-log bucket beside it."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import suppress


class ArtifactStore(Construct):
    """Encrypted, private, TLS-only, versioned; old attempt files and noncurrent versions expire."""

    def __init__(self, scope: Construct, id_: str, *, retain: bool, noncurrent_days: int = 30) -> None:
        super().__init__(scope, id_)
        policy = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
            removal_policy=policy,
            auto_delete_objects=False,
        )
        suppress(self.access_logs, "AwsSolutions-S1", "This is the access-log bucket; logging it to itself would loop.")
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                # no current object under a pipeline expires by age: what is kept is `stepml gc`'s decision (outputs
                # runs, champions and locks refer to); what gc deletes becomes a noncurrent version, gone after
                # `noncurrent_days`, and its delete marker after that - so storage stops growing with every run
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                s3.LifecycleRule(id="expire-athena-results", prefix="athena-results/", expiration=Duration.days(7)),
                # what each execution's plan resolved: read by the notify Lambda (again after a redrive, which
                # AWS allows for 14 days)
                s3.LifecycleRule(id="expire-plan-records", prefix="plans/", expiration=Duration.days(30)),
            ],
            removal_policy=policy,
        )
