"""Data stack: the artifact bucket, the lock table and the Athena workgroup, asserted with matchers."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth


def test_artifact_bucket_is_encrypted_private_versioned_with_lifecycle(synth: Synth) -> None:
    t = synth.template_objs["data"]
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 30}, "Status": "Enabled"})]
                )
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "artifacts/"}),
        },
    )


def test_buckets_refuse_plain_http(synth: Synth) -> None:
    t = synth.template_objs["data"]
    policies = t.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 2  # the artifact bucket and its access-log bucket
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_lock_table_has_ttl_lease_and_recovery(synth: Synth) -> None:
    synth.template_objs["data"].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "lock_id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )


def test_athena_workgroup_from_spec_writes_results_to_the_bucket(synth: Synth) -> None:
    synth.template_objs["data"].has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "stepml-dev",  # pipeline.yaml: warehouse.athena.workgroup, for the stage
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": {
                        "OutputLocation": Match.any_value(),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    },
                }
            ),
        },
    )


def test_lifecycle_rules_agree_with_stepml_gc(synth: Synth) -> None:
    """What is kept is ``stepml gc``'s decision, so no rule expires a current object a run, champion or lock may
    still refer to: only Athena's query results, the plan records (``plans/``) and the access logs expire by age.
    What gc deletes in a versioned bucket becomes a noncurrent version, which a rule expires, and its delete marker
    is removed once no version is left, so storage stops growing (a rule's Expiration applies to current versions,
    NoncurrentVersionExpiration to noncurrent ones, ExpiredObjectDeleteMarker to lone markers:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRule.html)."""
    from tests.infra.conftest import resources

    buckets = resources(synth.templates["data"], "AWS::S3::Bucket")
    artifact = next(b for b in buckets.values() if "VersioningConfiguration" in b["Properties"])
    rules = artifact["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {r.get("Prefix", ""): r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r}
    assert expiring == {"athena-results/": 7, "plans/": 30}  # never "" (everything) nor a pipeline's folder
    versions = next(r for r in rules if "NoncurrentVersionExpiration" in r)
    assert versions.get("Prefix", "") == "" and versions["ExpiredObjectDeleteMarker"] is True
