"""What the plan Lambda may read to resolve the steps' lookups (``stepml.core.plan``: ``StepRecord.lookup``).

- model lookups (a gate's champion, ``model: NAME@champion``): ``sagemaker:ListModelPackages`` - which takes no
  resource-level permission - and ``sagemaker:DescribeModelPackage`` on the models' packages
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html);
- data versions of extracts (``steps.extract.probe_cloud``): ``glue:GetTable`` on the catalog, the database and
  its tables (Glue authorizes a table request against all three:
  https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html) and ``s3:ListBucket`` on the
  warehouse buckets; a declared probe query also runs on Athena, with the workgroup's results in the artifact
  bucket (https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html);
- a running experiment's first record (``experiments/<name>/experiment.json``): ``s3:GetObject`` - a
  ``NoSuchKey`` answer (no record yet) needs ``s3:ListBucket`` too, else S3 answers ``AccessDenied``
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions");
- the record of what the plan found (``plans/<pipeline>/``), which the notify Lambda reads back.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import suppress
from stepml.cloud.handlers.models import group_name
from stepml.core.plan import flat_lookups
from stepml.spec import Pipeline


class PlanLookupGrants(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline: Pipeline,
        plan_role: iam.IRole,
        notify_role: iam.IRole,
        bucket: s3.IBucket,
        model_group_prefix: str,
        warehouse_bucket_arns: tuple[str, ...],
        athena_workgroup: str | None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        lookups = [x for s in pipeline.plan_input.steps for x in flat_lookups(s.lookup)]
        self.statements: list[iam.PolicyStatement] = []

        def allow(actions: list[str], resources: list[str]) -> None:
            statement = iam.PolicyStatement(actions=actions, resources=resources)
            self.statements.append(statement)
            plan_role.add_to_principal_policy(statement)

        if not lookups:
            return
        plans = bucket.arn_for_objects(f"plans/{pipeline.name}/*")  # stepml.core.layout.plan_record_key
        allow(["s3:PutObject"], [plans])
        notify_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[plans]))
        models = sorted({str(x["model"]) for x in lookups if x.get("kind", "model") == "model"})
        if models:
            packages = [
                stack.format_arn(
                    service="sagemaker",
                    resource="model-package",
                    resource_name=f"{group_name(model_group_prefix, m)}/*",
                )
                for m in models
            ]
            allow(["sagemaker:DescribeModelPackage"], packages)
            allow(["sagemaker:ListModelPackages"], ["*"])
        experiments = sorted({str(x["settings"]["experiment"]) for x in lookups if x.get("kind") == "experiment"})
        if experiments:  # a running experiment's first record (stepml.experiments.record.record_key)
            allow(["s3:GetObject"], [bucket.arn_for_objects(f"experiments/{e}/experiment.json") for e in experiments])
            # without it a missing record answers AccessDenied, not NoSuchKey; unconditioned: a GetObject request
            # carries no s3:prefix, so a prefix condition would never match when S3 decides 404 or 403
            listing = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
            self.statements.append(listing)
            plan_role.add_to_principal_policy(listing)
        data = [x for x in lookups if x.get("kind") == "data"]
        athena = pipeline.spec.warehouse.athena
        if data and athena is not None and pipeline.spec.warehouse.engine == "athena":
            db = athena.database
            allow(
                ["glue:GetTable"],
                [
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=db),
                    stack.format_arn(service="glue", resource="table", resource_name=f"{db}/*"),
                ],
            )
            if warehouse_bucket_arns:
                allow(["s3:ListBucket"], list(warehouse_bucket_arns))
            if any(x.get("probe") for x in data) and athena_workgroup:
                allow(
                    ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"],
                    [stack.format_arn(service="athena", resource="workgroup", resource_name=athena_workgroup)],
                )
                allow(["glue:GetDatabase", "glue:GetPartitions"], [
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=db),
                    stack.format_arn(service="glue", resource="table", resource_name=f"{db}/*"),
                ])  # fmt: skip
                if warehouse_bucket_arns:
                    allow(["s3:GetObject"], [f"{a}/*" for a in warehouse_bucket_arns])
                allow(["s3:PutObject", "s3:GetObject"], [bucket.arn_for_objects("athena-results/*")])
                allow(["s3:GetBucketLocation"], [bucket.bucket_arn])
        suppress(
            plan_role,
            "AwsSolutions-IAM5",
            "The plan Lambda lists model packages (no resource-level permission), describes the packages of its "
            "models' groups, reads the Glue tables of the warehouse database and lists the warehouse buckets to "
            "probe their data version, and writes its record under plans/<pipeline>/.",
        )
