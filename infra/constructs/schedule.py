"""The schedule: EventBridge Scheduler starts an execution at the spec's cron, in its time zone."""

from __future__ import annotations

import json

from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stepml.core.cron import to_eventbridge
from stepml.spec import ScheduleSpec


class PipelineSchedule(Construct):
    """``schedule.params`` become the execution input ``{"params": {...}}``; unset ones take spec defaults."""

    def __init__(
        self, scope: Construct, id_: str, *, schedule: ScheduleSpec, state_machine: sfn.IStateMachine, name: str
    ) -> None:
        super().__init__(scope, id_)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
        state_machine.grant_start_execution(role)
        self.expression = to_eventbridge(schedule.cron)
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=name,
            description=f"stepml: cron '{schedule.cron}' ({schedule.timezone})",
            schedule_expression=self.expression,
            schedule_expression_timezone=schedule.timezone,
            state="ENABLED" if schedule.enabled else "DISABLED",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=state_machine.state_machine_arn,
                role_arn=role.role_arn,
                input=json.dumps({"params": schedule.params}, sort_keys=True),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=3),
            ),
        )
