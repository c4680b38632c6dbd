"""Execution status changes -> the notify Lambda -> a gokart-style summary on the SNS topic."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

TERMINAL = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]


class ExecutionNotifications(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        state_machine: sfn.IStateMachine,
        execution_arn_pattern: str,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id_)
        self.rule = events.Rule(
            self,
            "Rule",
            description="stepml: summary of every finished execution",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [state_machine.state_machine_arn], "status": TERMINAL},
            ),
            targets=[targets.LambdaFunction(function, retry_attempts=2)],
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:GetExecutionHistory"], resources=[execution_arn_pattern])
        )
