"""Alarms: the spec's declarations (the same ones evaluated locally), pipeline failed, no recent success, paging."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stepml.cloud.metrics import NAMESPACE, alarm_dimensions
from stepml.spec import PipelineSpec

_COMPARISON = {
    "GreaterThanThreshold": cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    "GreaterThanOrEqualToThreshold": cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "LessThanThreshold": cw.ComparisonOperator.LESS_THAN_THRESHOLD,
    "LessThanOrEqualToThreshold": cw.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
}
_MISSING = {
    "breaching": cw.TreatMissingData.BREACHING,
    "notBreaching": cw.TreatMissingData.NOT_BREACHING,
    "ignore": cw.TreatMissingData.IGNORE,
    "missing": cw.TreatMissingData.MISSING,
}


def execution_metric(state_machine_arn: str, metric: str, period: Duration) -> cw.Metric:
    return cw.Metric(
        namespace="AWS/States",
        metric_name=metric,
        dimensions_map={"StateMachineArn": state_machine_arn},
        statistic="Sum",
        period=period,
    )


class PipelineAlarms(Construct):
    """``alarms`` maps a name to each alarm; ``paging`` is the composite alarm that notifies the topic."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        spec: PipelineSpec,
        prefix: str,
        state_machine_arn: str,
        topic: sns.ITopic,
        no_success_hours: int,
    ) -> None:
        super().__init__(scope, id_)
        self.alarms: dict[str, cw.Alarm] = {}
        for declared in spec.alarms:
            metric = cw.Metric(
                namespace=NAMESPACE,
                metric_name=declared.metric,
                dimensions_map=alarm_dimensions(spec, declared),
                statistic=declared.statistic,
                period=Duration.minutes(declared.period_minutes),
            )
            self.alarms[declared.name] = metric.create_alarm(
                self,
                f"Spec-{declared.name}",
                alarm_name=f"{prefix}-{declared.name}",
                alarm_description=declared.description or f"declared in pipeline.yaml: alarms[{declared.name}]",
                threshold=declared.threshold,
                comparison_operator=_COMPARISON[declared.comparison],
                evaluation_periods=declared.evaluation_periods,
                datapoints_to_alarm=declared.datapoints_to_alarm,
                treat_missing_data=_MISSING[declared.treat_missing_data],
            )
        self.alarms["pipeline-failed"] = execution_metric(
            state_machine_arn, "ExecutionsFailed", Duration.minutes(5)
        ).create_alarm(
            self,
            "PipelineFailed",
            alarm_name=f"{prefix}-pipeline-failed",
            alarm_description="An execution of the pipeline failed, timed out or was aborted.",
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.alarms["no-successful-run"] = execution_metric(
            state_machine_arn, "ExecutionsSucceeded", Duration.hours(1)
        ).create_alarm(
            self,
            "NoSuccessfulRun",
            alarm_name=f"{prefix}-no-successful-run",
            alarm_description=f"No execution succeeded in the last {no_success_hours} hours.",
            threshold=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=no_success_hours,
            datapoints_to_alarm=no_success_hours,
            treat_missing_data=cw.TreatMissingData.BREACHING,
        )
        self.paging = cw.CompositeAlarm(
            self,
            "Paging",
            composite_alarm_name=f"{prefix}-paging",
            alarm_description="Any stepml alarm of this pipeline: pages the on-call via the SNS topic.",
            alarm_rule=cw.AlarmRule.any_of(*self.alarms.values()),
        )
        self.paging.add_alarm_action(cw_actions.SnsAction(topic))
        self.paging.add_ok_action(cw_actions.SnsAction(topic))
