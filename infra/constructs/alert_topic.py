"""The SNS topic for alarms and run summaries, encrypted with a customer-managed KMS key, TLS only.

``enforce_ssl`` makes CDK write an ``AWS::SNS::TopicPolicy`` holding only a Deny; a topic policy replaces the
default one, so every service principal that publishes needs its own Allow here: the CloudWatch alarms of this
pipeline (names starting with ``alarm_prefix``), from this account. IAM principals of the account (the notify
Lambda, the state machine) are granted by their own policies. With SSE-KMS the key must let the same service use
it (``kms:Decrypt``, ``kms:GenerateDataKey*``); an AWS managed key could not (see docs/aws-rules.md, section 2).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlertTopic(Construct):
    def __init__(self, scope: Construct, id_: str, *, name: str, alarm_prefix: str) -> None:
        super().__init__(scope, id_)
        self.key = kms.Key(self, "Key", enable_key_rotation=True, description=f"{name}: SNS topic encryption")
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        self.topic = sns.Topic(self, "Topic", topic_name=name, master_key=self.key, enforce_ssl=True)
        alarms = Stack.of(self).format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{alarm_prefix}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisPipelinesAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            )
        )
