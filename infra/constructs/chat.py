"""The alerts topic in a Slack channel through AWS's chat integration (Amazon Q Developer in chat applications,
formerly AWS Chatbot; the CloudFormation type is still ``AWS::Chatbot::SlackChannelConfiguration``).

The integration delivers CloudWatch alarm notifications as they are and the notify Lambda's run summaries as
custom notifications (``stepml.core.notice``); it drops SNS messages in any other format. The workspace id comes
from the one-time authorization of the Slack workspace in the integration's console - a manual step no template
can do (docs/deploy.md). The channel role holds the notification permissions only (CloudWatch reads for alarm
charts) and so does the guardrail: without one, the integration applies AdministratorAccess to what channel
members may run. No secret is involved: the ids are not credentials.
"""

from __future__ import annotations

from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.nag import suppress

CHATBOT = "chatbot.amazonaws.com"
NOTIFICATION_ACTIONS = ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"]


class SlackChannel(Construct):
    def __init__(
        self, scope: Construct, id_: str, *, name: str, workspace_id: str, channel_id: str, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, id_)
        notifications = iam.PolicyDocument(
            statements=[iam.PolicyStatement(actions=NOTIFICATION_ACTIONS, resources=["*"])]
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(CHATBOT),
            description=f"{name}: the chat channel's role (notifications only)",
            inline_policies={"Notifications": notifications},
        )
        self.guardrail = iam.ManagedPolicy(
            self,
            "Guardrail",
            description=f"{name}: what the chat channel may ever do (read CloudWatch for alarm charts)",
            document=notifications,
        )
        self.channel = chatbot.CfnSlackChannelConfiguration(
            self,
            "Channel",
            configuration_name=name[:128],
            slack_workspace_id=workspace_id,
            slack_channel_id=channel_id,
            iam_role_arn=self.role.role_arn,
            guardrail_policies=[self.guardrail.managed_policy_arn],
            sns_topic_arns=[topic.topic_arn],
            logging_level="ERROR",
            user_role_required=False,
        )
        for what in (self.role, self.guardrail):
            suppress(
                what,
                "AwsSolutions-IAM5",
                "cloudwatch:Describe*/Get*/List* on '*': the chat integration's notification permissions (alarm "
                "charts in notifications); these read actions have no resource-level scoping.",
            )
