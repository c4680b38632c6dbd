"""The state machine: the definition compiled by ``stepml.cloud.asl``, its substitutions, its role."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stepml.cloud.asl import Compiled


class PipelineStateMachine(Construct):
    """Wraps the compiled definition; the caller adds the policy statements the integrations need."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        compiled: Compiled,
        name: str,
        substitutions: Mapping[str, str],
    ) -> None:
        super().__init__(scope, id_)
        missing = sorted(set(compiled.substitutions) - set(substitutions))
        if missing:
            raise ValueError(f"the state machine needs values for {missing}")
        self.definition = compiled.definition
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(self.definition, sort_keys=True)),
            definition_substitutions=dict(substitutions),
            role=self.role,
            timeout=Duration.seconds(int(self.definition["TimeoutSeconds"])),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )

    def allow(self, actions: list[str], resources: list[str], conditions: dict[str, object] | None = None) -> None:
        self.role.add_to_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))
