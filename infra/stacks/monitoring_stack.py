"""Monitoring: the SNS topic (KMS), the spec's alarms and the pipeline alarms, a composite for paging, a dashboard,
and - when the spec names one - the Slack channel the topic reaches through the chat integration.

It references the state machine by its deterministic name, so it does not depend on the pipeline stack (which
publishes to this stack's topic).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from constructs import Construct

from infra.config import InfraConfig
from infra.constructs.alarms import PipelineAlarms
from infra.constructs.alert_topic import AlertTopic
from infra.constructs.chat import SlackChannel
from infra.constructs.dashboard import PipelineDashboard


class MonitoringStack(Stack):
    def __init__(
        self, scope: Construct, id_: str, *, config: InfraConfig, state_machine_name: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        spec = config.pipeline.spec
        self.topic = AlertTopic(self, "Alerts", name=f"{config.prefix}-alerts", alarm_prefix=f"{config.prefix}-")
        arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.alarms = PipelineAlarms(
            self,
            "Alarms",
            spec=spec,
            prefix=config.prefix,
            state_machine_arn=arn,
            topic=self.topic.topic,
            no_success_hours=config.no_success_hours,
        )
        self.dashboard = PipelineDashboard(
            self, "Dashboard", pipeline=config.pipeline, name=config.prefix, state_machine_arn=arn
        )
        slack = spec.notifications.slack
        self.chat: SlackChannel | None = None
        if slack is not None:  # the workspace was authorized once in the integration's console (docs/deploy.md)
            self.chat = SlackChannel(
                self,
                "Slack",
                name=config.prefix,
                workspace_id=slack.workspace_id,
                channel_id=slack.channel_id,
                topic=self.topic.topic,
            )
        CfnOutput(self, "TopicArn", value=self.topic.topic.topic_arn)
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://console.aws.amazon.com/cloudwatch/home#dashboards:name={config.prefix}",
        )
