"""The compiled state machine per ``deploy.network``: what RunTask and the SageMaker jobs are given (aws-rules §31).

The stacks' side (the VPC each mode builds) is asserted on the synthesized templates in
tests/infra/test_public_network.py; here only the pure compiler, no CDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.cloud.asl import compile_definition
from stepml.cloud.asl.machine import iter_states
from stepml.errors import SpecError
from stepml.spec import Pipeline, load_spec
from tests.conftest import ROOT

MODES = ("nat", "endpoints", "public")
EXAMPLE = ROOT / "examples" / "job_matching" / "pipeline.yaml"  # a user step that runs as a Processing job
RUN_TASK = "arn:aws:states:::ecs:runTask.sync"
SAGEMAKER_JOBS = (
    "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "arn:aws:states:::sagemaker:createProcessingJob.sync",
)


def _pipeline(tmp: Path, source: Path, network: str | None) -> Pipeline:
    raw = yaml.safe_load(source.read_text())
    raw["project_root"] = str(ROOT)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / "sql" / Path(raw["steps"][name]["sql"]).name)
    if source == EXAMPLE:
        raw["steps"]["features_train"]["resources"] = {"instance_type": "ml.m5.xlarge"}
    if network is not None:
        raw.setdefault("deploy", {})["network"] = network
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_spec(spec)


def _tasks(definition: dict[str, Any], resources: tuple[str, ...]) -> list[dict[str, Any]]:
    return [s for s in iter_states(definition["States"]) if s.get("Resource") in resources]


@pytest.mark.parametrize("mode", MODES)
def test_a_fargate_task_gets_a_public_ip_exactly_in_the_public_network(tmp_path: Path, mode: str) -> None:
    """ "For a task on Fargate to pull a container image, the task must have a route to the internet": in a public
    subnet by a public IP on the task's ENI, in a private one through a NAT gateway, or through ECR's interface
    endpoints (Amazon ECS task networking options for Fargate). RunTask's ``assignPublicIp`` is DISABLED unless
    given, so the ``public`` network's tasks must ask for it; the other two never need one.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html"""
    definition = compile_definition(_pipeline(tmp_path, ROOT / "pipeline.yaml", mode))
    tasks = _tasks(definition, (RUN_TASK,))
    assert len(tasks) == 2  # check's task and the task inside score's Distributed Map
    expected = "ENABLED" if mode == "public" else "DISABLED"
    for task in tasks:
        network = task["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == expected
        assert task["Parameters"]["LaunchType"] == "FARGATE"  # ENABLED is valid for Fargate tasks only
        assert network["SecurityGroups"] == ["${SecurityGroupId}"]  # the egress-only group of every mode
        assert network["Subnets"] == ["${Subnet0}", "${Subnet1}"]  # the mode's task subnets (the stacks fill them)


def test_the_default_network_is_nat_and_compiles_as_before(tmp_path: Path) -> None:
    default = compile_definition(_pipeline(tmp_path / "default", ROOT / "pipeline.yaml", None))
    assert default == compile_definition(_pipeline(tmp_path / "nat", ROOT / "pipeline.yaml", "nat"))
    public = compile_definition(_pipeline(tmp_path / "public", ROOT / "pipeline.yaml", "public"))
    assert public != default


@pytest.mark.parametrize("mode", MODES)
def test_sagemaker_jobs_stay_out_of_the_vpc_in_every_network(tmp_path: Path, mode: str) -> None:
    """SageMaker runs training and processing jobs in its own VPC by default, whose containers reach S3 and ECR
    over the internet; given a ``VpcConfig``, a job gets network interfaces in those subnets "that is not connected
    to the internet" and no public IP, so without a NAT gateway it reaches S3 only through a VPC endpoint and any
    other service only through an interface endpoint or a NAT gateway. In the ``public`` network (no NAT gateway)
    a job in the VPC would lose what it has outside it: stepml's jobs get no VpcConfig in any mode.
    https://docs.aws.amazon.com/sagemaker/latest/dg/infrastructure-give-access.html
    https://docs.aws.amazon.com/sagemaker/latest/dg/train-vpc.html
    https://docs.aws.amazon.com/sagemaker/latest/dg/process-vpc.html"""
    jobs = []
    for source in (ROOT / "pipeline.yaml", EXAMPLE):
        definition = compile_definition(_pipeline(tmp_path / source.parent.name, source, mode))
        jobs += _tasks(definition, SAGEMAKER_JOBS)
    assert {j["Resource"] for j in jobs} == set(SAGEMAKER_JOBS)  # a training job and a processing job
    for job in jobs:
        assert not {"VpcConfig", "NetworkConfig"} & set(job["Parameters"]), job["Parameters"]
        assert "${Subnet" not in str(job["Parameters"]) and "${SecurityGroupId}" not in str(job["Parameters"])


def test_a_network_that_is_none_of_the_three_is_a_named_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"deploy\.network") as caught:
        _pipeline(tmp_path, ROOT / "pipeline.yaml", "private")
    assert "public" in str(caught.value)  # the message lists what is expected
