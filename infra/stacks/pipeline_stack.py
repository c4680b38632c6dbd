"""Pipeline: network, containers, SageMaker, the Lambda functions, the state machine, schedules, notifications."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import InfraConfig
from infra.constructs.containers import StepContainers
from infra.constructs.functions import PipelineFunctions
from infra.constructs.network import Network
from infra.constructs.notebook import ExplorationAccess
from infra.constructs.notifications import ExecutionNotifications
from infra.constructs.plan_cache import PlanCacheReads
from infra.constructs.plan_lookups import PlanLookupGrants
from infra.constructs.processing import ProcessingRoles
from infra.constructs.schedule import PipelineSchedules
from infra.constructs.serving import ServingTables
from infra.constructs.state_machine import PipelineStateMachine
from infra.constructs.state_machine_policy import Integrations, grant_integrations
from infra.constructs.studio import StudioDomain
from infra.constructs.training import Training
from infra.nag import suppress
from infra.stacks.data_stack import DataStack
from stepml.cloud.asl import SUBNET_COUNT, compile_pipeline, task_definition_var
from stepml.cloud.asl.steps import processing_role_var


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: InfraConfig,
        data: DataStack,
        topic: sns.ITopic,
        state_machine_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        pipeline = config.pipeline
        spec = pipeline.spec
        compiled = compile_pipeline(pipeline)  # the definition and what its steps need; never re-derived here
        bucket, table = data.store.bucket, data.locks.table
        network = Network(
            self,
            "Network",
            max_azs=config.max_azs,
            mode=config.network_mode,
            secrets=any(t.secrets for t in compiled.tasks.values()),
        )
        notebook = config.notebook_spec
        if notebook is not None and notebook.kind == "studio":  # in the VPC, so here (the instance: data stack)
            studio = StudioDomain(
                self,
                "Studio",
                name=f"{config.prefix}-studio",
                spec=notebook,
                vpc=network.vpc,
                subnets=network.task_subnets,
                vpc_only=config.network_mode == "nat",  # VpcOnly apps need the NAT (or endpoints) for SageMaker
                access=ExplorationAccess(
                    bucket=bucket,
                    athena=spec.warehouse.athena if spec.warehouse.engine == "athena" else None,
                    athena_workgroup=data.workgroup.name if data.workgroup else None,
                    warehouse_bucket_arns=config.warehouse_bucket_arns,
                ),
            )
            CfnOutput(self, "StudioUrl", value=studio.url)
        containers = StepContainers(
            self,
            "Containers",
            tasks=compiled.tasks,
            prefix=config.prefix,
            image_uri=config.resolved_image_uri,
            dockerfile=config.dockerfile,
            code_digest=config.code_digest,
            build_args=config.build_args,
            vpc=network.vpc,
            bucket=bucket,
        )
        trained = sorted(
            {
                st.model_name(pipeline.context(n))
                for n, st in pipeline.steps.items()
                if st.type == "gate" and hasattr(st, "model_name")
            }
        )
        training = Training(self, "Training", group_prefix=f"stepml-{config.stage}", models=trained, bucket=bucket)
        processing = ProcessingRoles(self, "Processing", jobs=compiled.processing, bucket=bucket)
        functions = PipelineFunctions(
            self,
            "Functions",
            pipeline=pipeline,
            asset_dir=config.asset_dir,
            bucket=bucket,
            topic_arn=topic.topic_arn,
            model_group_prefix=training.group_prefix,
            athena_workgroup=data.workgroup.name if data.workgroup else None,
        )
        PlanCacheReads(self, "PlanCache", pipeline_name=pipeline.name, plan_role=functions.roles["Plan"], bucket=bucket)
        PlanLookupGrants(
            self,
            "PlanLookups",
            pipeline=pipeline,
            plan_role=functions.roles["Plan"],
            notify_role=functions.roles["Notify"],
            bucket=bucket,
            model_group_prefix=training.group_prefix,
            warehouse_bucket_arns=config.warehouse_bucket_arns,
            athena_workgroup=data.workgroup.name if data.workgroup else None,
        )
        ServingTables(self, "Serving", pipeline=pipeline, bucket=bucket, stage=config.stage, writer=functions.commit)
        subnets = network.task_subnets.subnet_ids
        substitutions = {
            "ArtifactBucket": bucket.bucket_name,
            "LockTable": table.table_name,
            "PlanFunctionArn": functions.plan.function_arn,
            "CommitFunctionArn": functions.commit.function_arn,
            "TopicArn": topic.topic_arn,
            "ImageUri": containers.image_uri,
            "SageMakerRoleArn": training.role.role_arn,
            "ModelGroupPrefix": training.group_prefix,
            "ClusterArn": containers.cluster.cluster_arn,
            "SecurityGroupId": network.security_group.security_group_id,
            **{f"Subnet{i}": subnets[i % len(subnets)] for i in range(SUBNET_COUNT)},
            **{task_definition_var(n): t.task_definition_arn for n, t in containers.task_definitions.items()},
            **{processing_role_var(n): r.role_arn for n, r in processing.roles.items()},
        }
        if data.workgroup is not None:
            substitutions["AthenaWorkGroup"] = data.workgroup.name
        redshift = spec.warehouse.redshift
        if spec.warehouse.engine == "redshift":
            substitutions["RedshiftTarget"] = (
                (redshift.cluster_identifier or redshift.workgroup or "default") if redshift else "default"
            )
        machine = PipelineStateMachine(
            self,
            "StateMachine",
            compiled=compiled,
            name=state_machine_name,
            substitutions=substitutions,
        )
        if data.workgroup is not None and getattr(data.workgroup, "workgroup", None) is not None:
            machine.node.add_dependency(data)
        grant_integrations(
            machine,
            state_machine_name,
            Integrations(
                bucket=bucket,
                table=table,
                functions=(functions.plan, functions.commit),
                topic=topic,
                sagemaker_role=training.role,
                model_package_groups=tuple(training.group_names.values()),
                cluster=containers.cluster,
                task_definitions=tuple(containers.task_definitions.values()),
                processing_roles=tuple(processing.roles.values()),
                resources=frozenset(compiled.resources),
                athena=spec.warehouse.athena if spec.warehouse.engine == "athena" else None,
                athena_workgroup=data.workgroup.name if data.workgroup else None,
                redshift=redshift if spec.warehouse.engine == "redshift" else None,
                warehouse_bucket_arns=config.warehouse_bucket_arns,
            ),
        )
        if spec.named_schedules():
            PipelineSchedules(
                self, "Schedules", pipeline=pipeline, state_machine=machine.state_machine, prefix=config.prefix
            )
        execution_arns = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        ExecutionNotifications(
            self,
            "Notifications",
            state_machine=machine.state_machine,
            execution_arn_pattern=execution_arns,
            function=functions.notify,
        )
        topic.grant_publish(functions.notify)
        self._suppressions(machine, functions)
        self.state_machine = machine.state_machine
        self.definition = machine.definition
        self.functions = functions
        CfnOutput(self, "StateMachineArn", value=machine.state_machine.state_machine_arn)
        CfnOutput(self, "ImageUri", value=containers.image_uri)

    @staticmethod
    def _suppressions(machine: PipelineStateMachine, functions: PipelineFunctions) -> None:
        suppress(
            machine.role,
            "AwsSolutions-IAM5",
            "Scoped wildcards only: keys under the artifact bucket; executions and map runs of this state machine; "
            "training jobs (names are per-run); model packages of this pipeline's group; tasks of this cluster; "
            "ECS task-definition revisions; Glue tables of the warehouse database; '*' only for actions without "
            "resource-level permissions (see WILDCARD_ALLOWED in infra/constructs/state_machine_policy.py).",
        )
        for role in functions.roles.values():
            suppress(
                role,
                "AwsSolutions-IAM5",
                "Keys under the artifact bucket (commit writes manifests and moves UNLOAD files); executions of "
                "this state machine (notify reads their history); the function's own log streams; "
                "cloudwatch:PutMetricData (commit publishes a check's metrics), which has no resource-level "
                "permissions and is limited to the stepml namespace by a condition.",
            )
