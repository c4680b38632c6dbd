"""Deploy proof: the pinned ``cdk bootstrap`` and ``cdk deploy`` against a moto server on 127.0.0.1.

The CLI runs the app from cdk.json exactly as from a fresh clone, with the container image given as a prebuilt URI
(no Docker here). The templates are deployed unmodified; moto's gaps are worked around in ``moto_deploy`` (the
server's shims, the one CLI option) and listed in docs/deploy.md. Then boto3, against the same server, checks what
was created: the stacks, the state machine (its definition is the compiled one with every ``${Name}`` resolved to
a deployed resource), the artifact bucket, the lock table, the topic, the schedule and the container image.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stepml.cloud.asl import compile_definition, named_states, task_definition_var
from stepml.core.cron import to_eventbridge
from stepml.spec import Pipeline, load_spec
from tests.conftest import ROOT
from tests.infra.moto_deploy import ACCOUNT, DEPLOY_ARGS, MOTO_SKIPS, PLACEHOLDER, REGION, SHIMS, MotoServer

pytestmark = pytest.mark.slow

IMAGE_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/stepml-prebuilt:deploy-proof"
KINDS = ("data", "monitoring", "pipeline")


@dataclass
class Deployment:
    server: MotoServer
    pipeline: Pipeline
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"stepml-{self.pipeline.spec.name}-dev"

    def stack(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def client(self, service: str) -> Any:
        return self.server.client(service)

    def outputs(self, kind: str) -> dict[str, str]:
        (stack,) = self.client("cloudformation").describe_stacks(StackName=self.stack(kind))["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        cfn = self.client("cloudformation")
        summaries = cfn.list_stack_resources(StackName=self.stack(kind))["StackResourceSummaries"]
        return {r["LogicalResourceId"]: r for r in summaries if r.get("LogicalResourceId")}

    def physical_ids(self, kind: str, type_: str) -> list[str]:
        return sorted(r["PhysicalResourceId"] for r in self.resources(kind).values() if r["ResourceType"] == type_)


def _cdk(args: list[str], *, cwd: Path, env: dict[str, str], server: MotoServer) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args[1:3])} failed ({done.returncode})\n--- stdout\n{done.stdout[-4000:]}\n"
            f"--- stderr\n{done.stderr[-6000:]}\n--- moto\n{server.log_text()[-4000:]}"
        )


@pytest.fixture(scope="module")
def deployed(node_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("moto-deploy")
    server = MotoServer(work / "moto", root=ROOT)
    server.start()
    try:
        env = server.cli_env(work)
        cdk = str(node_tools / "cdk")
        outdir = work / "cdk.out"
        # explicit environment, run outside the repo: bootstrap needs no app
        _cdk([cdk, "bootstrap", "--no-notices", f"aws://{ACCOUNT}/{REGION}"], cwd=work, env=env, server=server)
        # the app from cdk.json, as from a fresh clone; its output outside the repo's cdk.out
        deploy = [cdk, "deploy", "--all", "--no-notices", "--require-approval", "never", "--progress", "events"]
        deploy += [*DEPLOY_ARGS, "-o", str(outdir), "-c", f"image_uri={IMAGE_URI}"]
        _cdk(deploy, cwd=ROOT, env=env, server=server)
        deployment = Deployment(server, load_spec(ROOT / "pipeline.yaml"))
        for kind in KINDS:
            path = outdir / f"{deployment.stack(kind)}.template.json"
            deployment.templates[kind] = json.loads(path.read_text())
        yield deployment
    finally:
        server.stop()


def test_stacks_deploy_unmodified_with_their_outputs(deployed: Deployment) -> None:
    cfn = deployed.client("cloudformation")
    statuses = {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}
    assert statuses == {
        "CDKToolkit": "CREATE_COMPLETE",
        **{deployed.stack(k): "CREATE_COMPLETE" for k in KINDS},
        # the project's second pipeline (pipelines/daily_scores.yaml) on the first one's data stack
        "stepml-daily-scores-dev-monitoring": "CREATE_COMPLETE",
        "stepml-daily-scores-dev-pipeline": "CREATE_COMPLETE",
    }
    for kind in KINDS:  # what CloudFormation holds is what cdk synth wrote: no template patching
        body = cfn.get_template(StackName=deployed.stack(kind))["TemplateBody"]
        assert (json.loads(body) if isinstance(body, str) else body) == deployed.templates[kind]
    machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{deployed.prefix}"
    assert deployed.outputs("pipeline") == {"StateMachineArn": machine_arn, "ImageUri": IMAGE_URI}
    assert deployed.outputs("monitoring")["TopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{deployed.prefix}-alerts"
    data = deployed.outputs("data")
    assert data["ArtifactBucketName"] in deployed.physical_ids("data", "AWS::S3::Bucket")
    assert [data["LockTableName"]] == deployed.physical_ids("data", "AWS::DynamoDB::Table")


def test_moto_creates_every_resource_but_the_documented_gaps(deployed: Deployment) -> None:
    skipped_types: set[str] = set()
    for kind in KINDS:
        declared = deployed.templates[kind]["Resources"]
        created = deployed.resources(kind)
        assert set(created) <= set(declared), kind
        skipped = {declared[k]["Type"] for k in set(declared) - set(created)}
        assert skipped <= set(MOTO_SKIPS), (kind, skipped - set(MOTO_SKIPS))
        assert not {k for k, r in created.items() if r["ResourceType"] in MOTO_SKIPS}, kind
        assert {r["ResourceStatus"] for r in created.values()} == {"CREATE_COMPLETE"}, kind
        skipped_types |= skipped
    assert skipped_types == set(MOTO_SKIPS)  # no stale entry: every listed gap is still hit


def test_every_moto_shim_is_applied_and_moto_reports_no_error(deployed: Deployment) -> None:
    applied = deployed.server.shims_applied()
    assert {a["shim"] for a in applied} == set(SHIMS)
    log = deployed.server.log_text()
    assert "Traceback" not in log and "Error on request" not in log, log[-4000:]
    assert set(re.findall(r"No Moto CloudFormation support for (\S+)", log)) == set(MOTO_SKIPS)


def _match(expected: Any, actual: Any, values: dict[str, str], path: str = "$") -> None:
    """``actual`` is ``expected`` with each ``${Name}`` replaced by one value per name; collect the values."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), path
        for key, value in expected.items():
            _match(value, actual[key], values, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _match(e, a, values, f"{path}[{i}]")
    elif isinstance(expected, str) and PLACEHOLDER.search(expected):
        parts = PLACEHOLDER.split(expected)  # literal, name, literal, name, ..., literal
        pattern = "".join(re.escape(p) if i % 2 == 0 else "(.+?)" for i, p in enumerate(parts))
        found = re.fullmatch(pattern, actual) if isinstance(actual, str) else None
        assert found is not None, (path, expected, actual)
        for name, value in zip(parts[1::2], found.groups(), strict=True):
            assert "${" not in value, (path, name, value)
            assert values.setdefault(name, value) == value, (path, name, value, values[name])
    else:
        assert actual == expected, path


def test_state_machine_runs_the_compiled_definition_wired_to_the_deployed_resources(deployed: Deployment) -> None:
    sfn = deployed.client("stepfunctions")
    arn = deployed.outputs("pipeline")["StateMachineArn"]
    machine = sfn.describe_state_machine(stateMachineArn=arn)
    assert machine["name"] == deployed.prefix
    assert machine["status"] == "ACTIVE"
    assert machine["tracingConfiguration"] == {"enabled": True}
    logging_config = machine["loggingConfiguration"]
    assert (logging_config["level"], logging_config["includeExecutionData"]) == ("ALL", False)
    (log_group,) = logging_config["destinations"]
    assert log_group["cloudWatchLogsLogGroup"]["logGroupArn"].startswith(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:")

    pipeline = deployed.pipeline
    values: dict[str, str] = {}
    _match(compile_definition(pipeline), json.loads(machine["definition"]), values)

    spec = pipeline.spec
    data, topic_arn = deployed.outputs("data"), deployed.outputs("monitoring")["TopicArn"]
    assert values["ImageUri"] == IMAGE_URI
    assert values["ArtifactBucket"] == data["ArtifactBucketName"]
    assert values["LockTable"] == data["LockTableName"]
    assert values["TopicArn"] == topic_arn
    assert values["ModelGroupPrefix"] == "stepml-dev"  # groups stepml-dev-<model>
    assert spec.warehouse.athena is not None
    assert values["AthenaWorkGroup"] == f"{spec.warehouse.athena.workgroup}-dev"  # created per stage
    lambda_ = deployed.client("lambda")
    for name, module in (("PlanFunctionArn", "plan"), ("CommitFunctionArn", "commit")):
        config = lambda_.get_function(FunctionName=values[name])["Configuration"]
        assert config["Handler"] == f"stepml.cloud.handlers.{module}.handler", name
        # the plan's lookups: the gate's champion (model groups), the extracts' data versions (a probe query's
        # workgroup)
        lookups = (
            {"STEPML_MODEL_GROUP_PREFIX": "stepml-dev", "STEPML_ATHENA_WORKGROUP": values["AthenaWorkGroup"]}
            if module == "plan"
            else {}
        )
        assert config["Environment"]["Variables"] == {
            "ARTIFACT_BUCKET": values["ArtifactBucket"],
            "TOPIC_ARN": topic_arn,
            **lookups,
        }
    ecs = deployed.client("ecs")
    assert values["ClusterArn"] in ecs.list_clusters()["clusterArns"]
    for step in (n for n, s in pipeline.steps.items() if s.type in ("score", "check")):
        task = ecs.describe_task_definition(taskDefinition=values[task_definition_var(step)])["taskDefinition"]
        assert task["family"] == f"{deployed.prefix}-{step}".replace("_", "-")
        (container,) = task["containerDefinitions"]
        assert container["image"] == IMAGE_URI  # the prebuilt image, no image asset
        assert container["command"] == ["python", "-m", "stepml.cloud.task"]
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["STEPML_STEP"] == step and env["STEPML_CODE_DIGEST"] == pipeline.code_digest(step).digest
    iam = deployed.client("iam")
    role = iam.get_role(RoleName=values["SageMakerRoleArn"].rsplit("/", 1)[1])["Role"]
    assert "sagemaker.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    ec2 = deployed.client("ec2")
    (group,) = ec2.describe_security_groups(GroupIds=[values["SecurityGroupId"]])["SecurityGroups"]
    subnets = ec2.describe_subnets(SubnetIds=[values["Subnet0"], values["Subnet1"]])["Subnets"]
    assert {s["VpcId"] for s in subnets} == {group["VpcId"]}
    assert all(not s["MapPublicIpOnLaunch"] for s in subnets)

    states = named_states(json.loads(machine["definition"])["States"])
    training = states["train: train"]["Parameters"]
    assert training["AlgorithmSpecification"]["TrainingImage"] == IMAGE_URI
    assert training["RoleArn"] == values["SageMakerRoleArn"]


def test_artifact_bucket(deployed: Deployment) -> None:
    s3 = deployed.client("s3")
    bucket = deployed.outputs("data")["ArtifactBucketName"]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"stepml:pipeline": deployed.pipeline.spec.name, "stepml:stage": "dev"}


def test_lock_table(deployed: Deployment) -> None:
    ddb = deployed.client("dynamodb")
    name = deployed.outputs("data")["LockTableName"]
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "lock_id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "lock_id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_alert_topic_is_encrypted_with_its_rotating_key(deployed: Deployment) -> None:
    sns, kms = deployed.client("sns"), deployed.client("kms")
    topic_arn = deployed.outputs("monitoring")["TopicArn"]
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    (key_arn,) = (
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{k}" for k in deployed.physical_ids("monitoring", "AWS::KMS::Key")
    )
    assert attributes["KmsMasterKeyId"] == key_arn
    key = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    assert key["Enabled"] and key["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_arn)["Tags"]}
    assert tags == {"stepml:pipeline": deployed.pipeline.spec.name, "stepml:stage": "dev"}


def test_schedule_starts_the_state_machine_at_the_spec_cron(deployed: Deployment) -> None:
    spec_schedule = deployed.pipeline.spec.named_schedules()["daily"]
    schedule = deployed.client("scheduler").get_schedule(Name=f"{deployed.prefix}-daily")
    assert schedule["ScheduleExpression"] == to_eventbridge(spec_schedule.cron)
    assert schedule["ScheduleExpressionTimezone"] == spec_schedule.timezone
    assert schedule["State"] == ("ENABLED" if spec_schedule.enabled else "DISABLED")
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    machine_arn = deployed.outputs("pipeline")["StateMachineArn"]
    assert target["Arn"] == machine_arn
    assert json.loads(target["Input"]) == {
        "params": spec_schedule.params,
        "schedule": "daily",
        "scheduled_time": "<aws.scheduler.scheduled-time>",  # Scheduler fills in each invocation's time
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
    # its role is the scheduler's and may start exactly this state machine
    iam = deployed.client("iam")
    role_name = target["RoleArn"].rsplit("/", 1)[1]
    role = iam.get_role(RoleName=role_name)["Role"]
    assert "scheduler.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    statements = [
        s
        for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        for s in iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]["Statement"]
    ]
    assert statements == [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine_arn}]
