"""The schedules: EventBridge Scheduler starts an execution at each schedule's cron, in its time zone.

Each schedule's input is ``{"params", "schedule", "scheduled_time": "<aws.scheduler.scheduled-time>"}``
(:func:`stepml.core.schedule.schedule_input`): Scheduler replaces the context attribute with the invocation's
scheduled time, and the plan Lambda evaluates the schedule's run-date expressions at that time in the schedule's
time zone and plans only the schedule's steps (and what they need).
"""

from __future__ import annotations

import re

from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stepml.core.cron import to_eventbridge
from stepml.core.params import VALIDATION_DATE
from stepml.core.plan import plan_params, wanted
from stepml.core.schedule import schedule_input
from stepml.errors import Issue, ParamError, SpecError, StepmlError
from stepml.spec import Pipeline

SCHEDULE_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")  # CreateSchedule's Name: 1-64 of [0-9a-zA-Z-_.]


def schedule_name(prefix: str, name: str) -> str:
    """The AWS name of schedule ``name``: ``<prefix>-<name>`` (the prefix holds the pipeline and the stage, so
    stages and pipelines never share a name in the account's default schedule group). Never truncated: a name
    AWS refuses is a ``SpecError`` naming the schedule and the prefix."""
    full = f"{prefix}-{name}"
    if not SCHEDULE_NAME.match(full):
        raise SpecError(
            [
                Issue(
                    f"schedules.{name}",
                    f"its EventBridge Scheduler name {full!r} is not 1-64 characters of [0-9a-zA-Z-_.]: shorten the "
                    "schedule's name, the pipeline's or the stage",
                )
            ]
        )
    return full


def check_runs(pipeline: Pipeline) -> None:
    """Each schedule's run plans: its parameters pass what the plan Lambda checks at every run (the same function,
    run-date expressions evaluated at a sample date) and its steps exist - a ``SpecError`` at synth, never a
    ``ParamError`` at each run."""
    issues: list[Issue] = []
    for name, record in pipeline.schedules.items():
        try:
            plan_params(pipeline.plan_input, record.params, run_date=VALIDATION_DATE)
            wanted(pipeline.plan_input, record.steps)
        except ParamError as exc:
            issues.extend(Issue(f"schedules.{name}.params", f"{i.where}: {i.message}") for i in exc.issues)
        except StepmlError as exc:
            issues.append(Issue(f"schedules.{name}.steps", str(exc)))
    if issues:
        raise SpecError(issues, str(pipeline.path))


class PipelineSchedules(Construct):
    """One ``CfnSchedule`` per schedule of the spec, each starting the state machine with its role."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline: Pipeline,
        state_machine: sfn.IStateMachine,
        prefix: str,
    ) -> None:
        super().__init__(scope, id_)
        schedules = pipeline.spec.named_schedules()
        check_runs(pipeline)
        names = {n: schedule_name(prefix, n) for n in schedules}  # every name checked before anything is built
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
        state_machine.grant_start_execution(self.role)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for name, schedule in schedules.items():
            steps = f", steps {', '.join(schedule.steps)}" if schedule.steps else ""
            self.schedules[name] = scheduler.CfnSchedule(
                self,
                f"Schedule-{name}",
                name=names[name],
                description=(schedule.description or f"stepml: cron '{schedule.cron}' ({schedule.timezone}){steps}")[
                    :512
                ],
                schedule_expression=to_eventbridge(schedule.cron),
                schedule_expression_timezone=schedule.timezone,
                state="ENABLED" if schedule.enabled else "DISABLED",
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=state_machine.state_machine_arn,
                    role_arn=self.role.role_arn,
                    input=schedule_input(name, schedule.params),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=3),
                ),
            )
