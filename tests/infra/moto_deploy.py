"""A local AWS for ``cdk bootstrap`` + ``cdk deploy``: moto_server with the CloudFormation shims moto 5.2.5 needs.

The CDK CLI is a separate node process, so moto runs as a real server on 127.0.0.1 in its own Python process
(``python -m tests.infra.moto_deploy --port N --report FILE``); ``MotoServer`` starts and stops it for a test.

Every workaround for a gap in moto lives here, in the test set-up, never in the product; docs/deploy.md lists
them. The templates themselves are deployed exactly as ``cdk synth`` writes them. Two kinds of workaround:

- ``SHIMS``: moto's CloudFormation creates the resource but drops properties it has backend support for (or, for
  ``AWS::Scheduler::Schedule``, has no CloudFormation model although its Scheduler API works). Each shim applies
  the template's properties through the same backend calls moto's API handlers use, and appends a line to the
  report file each time it changes something, so the test can assert that every shim is still used.
- ``MOTO_SKIPS``: resource types moto's CloudFormation does not know. moto logs a warning and skips them (the stack
  still completes); the test asserts that exactly these types, and nothing else, are missing from the stacks.

Plus one CLI option in ``DEPLOY_ARGS``: ``--method=direct`` (moto's ExecuteChangeSet computes no stack outputs, so
the ``Fn::ImportValue`` between the stacks would fail, and it neither fails nor rolls back when a resource fails).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# `cdk deploy` options that work around moto (besides the endpoint environment in `cli_env`)
DEPLOY_ARGS = ("--method=direct",)

SHIMS: dict[str, str] = {
    "kms-key": "moto's AWS::KMS::Key hands the tags ({Key, Value}) to its tagger, which expects {TagKey, TagValue} "
    "(KeyError: the key and everything using it are not created), and stores KeyPolicy as an object where its KMS "
    "API expects JSON text (DescribeKey: 500). The shim converts both.",
    "state-machine-substitutions": "moto's AWS::StepFunctions::StateMachine ignores DefinitionSubstitutions, "
    "LoggingConfiguration and TracingConfiguration. The shim replaces each ${Name} in DefinitionString with its "
    "resolved value (as CloudFormation does) and applies logging and tracing with UpdateStateMachine.",
    "bucket-versioning-public-access": "moto's AWS::S3::Bucket applies only BucketEncryption and Tags. The shim "
    "applies VersioningConfiguration and PublicAccessBlockConfiguration (PutBucketVersioning, "
    "PutPublicAccessBlock).",
    "table-options": "moto's AWS::DynamoDB::Table ignores TimeToLiveSpecification and "
    "PointInTimeRecoverySpecification, and looks for SSESpecification.SSEEnabled under the API's name (Enabled). "
    "The shim renames that key and applies the other two (UpdateTimeToLive, UpdateContinuousBackups).",
    "scheduler-schedule": "moto's CloudFormation has no AWS::Scheduler::Schedule (its Scheduler API has "
    "CreateSchedule). The shim is that model: CreateSchedule with the template's properties.",
}

# resource types moto's CloudFormation skips (with a warning); what the test can therefore not see deployed
MOTO_SKIPS: dict[str, str] = {
    "AWS::CDK::Metadata": "CDK's version-reporting resource: no CloudFormation model in moto",
    "AWS::CloudWatch::Alarm": "no CloudFormation model in moto",
    "AWS::CloudWatch::CompositeAlarm": "no CloudFormation model in moto",
    "AWS::S3::BucketPolicy": "no CloudFormation model in moto",
    "AWS::SNS::TopicPolicy": "no CloudFormation model in moto",
    "AWS::Athena::WorkGroup": "no CloudFormation model in moto",
    "AWS::SageMaker::ModelPackageGroup": "no CloudFormation model in moto",
}

# resource types moto's CloudFormation cannot create that optional parts of a spec add (notifications.slack,
# deploy.notebook.kind: studio):
# asserted on the synthesized templates (tests/infra/test_notify_notebook_network.py, test_studio.py) and left
# out of the moto_server deploy, whose reference pipeline declares none of them
LEFT_OUT: dict[str, str] = {
    "AWS::Chatbot::SlackChannelConfiguration": "no CloudFormation model in moto (and it needs a Slack workspace "
    "authorized by hand in the chat integration's console)",
    "AWS::SageMaker::Domain": "no CloudFormation model in moto (deploy.notebook.kind: studio)",
    "AWS::SageMaker::UserProfile": "no CloudFormation model in moto (deploy.notebook.kind: studio)",
    "AWS::SageMaker::StudioLifecycleConfig": "no CloudFormation model in moto (deploy.notebook.kind: studio)",
}

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


# ---------------------------------------------------------------------------------------------- server side


def install_shims(report: Path) -> None:
    """Patch moto's CloudFormation models in this process (the server's); each application is logged to ``report``."""
    from moto.cloudformation import parsing
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table
    from moto.kms.models import Key
    from moto.s3.models import FakeBucket, s3_backends
    from moto.stepfunctions.models import StateMachine, stepfunctions_backends
    from moto.utilities.utils import get_partition

    def record(shim: str, kwargs: Mapping[str, Any]) -> None:
        with report.open("a") as handle:
            handle.write(json.dumps({"shim": shim, "logical_id": kwargs.get("LogicalId")}) + "\n")

    def wrap(
        model: type,
        shim: str,
        *,
        before: Callable[[dict[str, Any]], bool] | None = None,
        after: Callable[[Any, dict[str, Any], str, str], bool] | None = None,
    ) -> None:
        """Around moto's ``create_from_cloudformation_json``; ``before``/``after`` say whether they changed anything."""
        original = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

        def create(
            cls: type, /, resource_name: str, cfn: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> Any:
            props = cfn.setdefault("Properties", {})
            changed = before(props) if before is not None else False
            resource = original(cls, resource_name, cfn, account_id, region_name, **kwargs)
            if after is not None:
                changed = after(resource, props, account_id, region_name) or changed
            if changed:
                record(shim, kwargs)
            return resource

        setattr(model, "create_from_cloudformation_json", classmethod(create))  # noqa: B010

    def kms_key(props: dict[str, Any]) -> bool:
        tags, policy = props.get("Tags"), props.get("KeyPolicy")
        if tags:
            props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags]
        if isinstance(policy, dict):
            props["KeyPolicy"] = json.dumps(policy)
        return bool(tags) or isinstance(policy, dict)

    def substitute(props: dict[str, Any]) -> bool:
        values = props.pop("DefinitionSubstitutions", None) or {}
        props["DefinitionString"] = PLACEHOLDER.sub(
            lambda m: str(values.get(m.group(1), m.group(0))), props.get("DefinitionString", "")
        )
        return bool(values)

    def state_machine_options(machine: Any, props: dict[str, Any], account: str, region: str) -> bool:
        logging_config, tracing = props.get("LoggingConfiguration"), props.get("TracingConfiguration")
        stepfunctions_backends[account][region].update_state_machine(
            machine.arn, logging_configuration=_camel_keys(logging_config), tracing_configuration=_camel_keys(tracing)
        )
        return bool(logging_config or tracing)

    def bucket_options(bucket: Any, props: dict[str, Any], account: str, region: str) -> bool:
        backend = s3_backends[account][get_partition(region)]
        if "VersioningConfiguration" in props:
            backend.put_bucket_versioning(bucket.name, props["VersioningConfiguration"]["Status"])
        if "PublicAccessBlockConfiguration" in props:
            backend.put_public_access_block(bucket.name, props["PublicAccessBlockConfiguration"])
        return bool({"VersioningConfiguration", "PublicAccessBlockConfiguration"} & set(props))

    def table_sse(props: dict[str, Any]) -> bool:
        sse = props.get("SSESpecification")
        if sse and "SSEEnabled" in sse:
            sse["Enabled"] = sse.pop("SSEEnabled")
            return True
        return False

    def table_options(table: Any, props: dict[str, Any], account: str, region: str) -> bool:
        backend = dynamodb_backends[account][region]
        if "TimeToLiveSpecification" in props:
            backend.update_time_to_live(table.name, props["TimeToLiveSpecification"])
        if "PointInTimeRecoverySpecification" in props:
            backend.update_continuous_backups(table.name, props["PointInTimeRecoverySpecification"])
        return bool({"TimeToLiveSpecification", "PointInTimeRecoverySpecification"} & set(props))

    wrap(Key, "kms-key", before=kms_key)
    wrap(StateMachine, "state-machine-substitutions", before=substitute, after=state_machine_options)
    wrap(FakeBucket, "bucket-versioning-public-access", after=bucket_options)
    wrap(Table, "table-options", before=table_sse, after=table_options)
    _define_schedule_model(record)
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def _camel_keys(value: Any) -> Any:
    """CloudFormation's PascalCase property names -> the Step Functions API's camelCase."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _define_schedule_model(record: Callable[[str, Mapping[str, Any]], None]) -> None:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
    from moto.core.common_models import CloudFormationModel
    from moto.scheduler.models import scheduler_backends

    class SchedulerSchedule(CloudFormationModel):
        """AWS::Scheduler::Schedule for moto's CloudFormation (a subclass registers itself by existing)."""

        __module__ = "moto.scheduler.stepml_shim"  # moto files its models by the module's second component

        def __init__(self, schedule: Any) -> None:
            self.schedule = schedule

        @property
        def physical_resource_id(self) -> str:
            return str(self.schedule.name)

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Scheduler::Schedule"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            if attribute_name == "Arn":
                return str(self.schedule.arn)
            raise UnformattedGetAttTemplateException()

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
        ) -> SchedulerSchedule:
            p = cloudformation_json["Properties"]
            schedule = scheduler_backends[account_id][region_name].create_schedule(
                description=p.get("Description"),
                end_date=p.get("EndDate"),
                flexible_time_window=p["FlexibleTimeWindow"],
                group_name=p.get("GroupName"),
                kms_key_arn=p.get("KmsKeyArn"),
                name=resource_name,
                schedule_expression=p["ScheduleExpression"],
                schedule_expression_timezone=p.get("ScheduleExpressionTimezone"),
                start_date=p.get("StartDate"),
                state=p.get("State"),
                target=p["Target"],
                action_after_completion=None,
            )
            record("scheduler-schedule", kw)
            return cls(schedule)

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region: str
        ) -> SchedulerSchedule:
            cls.delete_from_cloudformation_json(original_resource.schedule.name, {}, account_id, region)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            scheduler_backends[account_id][region_name].delete_schedule(None, resource_name)

        def is_created(self) -> bool:
            return True


def serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ["MOTO_PORT"] = str(args.port)  # anything in moto that calls back uses this port
    install_shims(args.report)
    from moto.server import main

    main(["-H", "127.0.0.1", "-p", str(args.port)])


# ---------------------------------------------------------------------------------------------- test side


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """``python -m tests.infra.moto_deploy`` in a subprocess; its output goes to ``<workdir>/moto.log``."""

    def __init__(self, workdir: Path, *, root: Path) -> None:
        self.workdir = workdir
        self.root = root
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "moto.log"
        self.report = workdir / "shims.jsonl"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.infra.moto_deploy",
                    "--port",
                    str(self.port),
                    "--report",
                    str(self.report),
                ],
                cwd=self.root,
                env={**env, "MOTO_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited ({self._proc.returncode}):\n{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto server not ready after {timeout} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def shims_applied(self) -> list[dict[str, Any]]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line.strip()]

    def cli_env(self, home: Path) -> dict[str, str]:
        """The CDK CLI's environment: only this server, dummy credentials, no profile, telemetry or notices."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "CDK_")) and k not in {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"}
        }
        return (
            env
            | CREDENTIALS
            | {
                "AWS_ENDPOINT_URL": self.endpoint,
                # the CLI hands CloudFormation an https://<S3 endpoint>/<bucket>/<key> template URL; moto reads it
                # path-style only when the host contains "localhost"
                "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{self.port}",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": str(home / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "CDK_DISABLE_CLI_TELEMETRY": "true",
                "CDK_DISABLE_VERSION_CHECK": "true",
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            }
        )

    def client(self, service: str) -> Any:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]


if __name__ == "__main__":
    serve(sys.argv[1:])
