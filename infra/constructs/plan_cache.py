"""What the plan Lambda may read to find a fully cached run (``stepml.cloud.handlers.fastpath``).

It reads each wanted step's manifest head, ``<pipeline>/steps/<step>/<key>/_manifest.head.json``
(``stepml.core.layout.manifest_head_key``): ``s3:GetObject`` on those objects only, and ``s3:ListBucket`` on the
artifact bucket - without it a step not yet committed answers 403 AccessDenied instead of 404 NoSuchKey
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"). The fast path takes any
error as "not all cached", so a missing grant would not fail a run: every run would silently pay the full cached
cost (3 state transitions per step). Unconditioned: a GetObject request carries no ``s3:prefix`` to condition on.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import suppress
from stepml.core.layout import MANIFEST_HEAD


class PlanCacheReads(Construct):
    def __init__(self, scope: Construct, id_: str, *, pipeline_name: str, plan_role: iam.IRole, bucket: s3.IBucket):
        super().__init__(scope, id_)
        heads = bucket.arn_for_objects(f"{pipeline_name}/steps/*/{MANIFEST_HEAD}")
        self.statements = [
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[heads]),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
        ]
        for statement in self.statements:
            plan_role.add_to_principal_policy(statement)
        suppress(
            plan_role,
            "AwsSolutions-IAM5",
            "The plan Lambda reads the manifest heads of its pipeline's steps (one per step and key, keys unknown "
            "at deploy time) to find a fully cached run.",
        )
