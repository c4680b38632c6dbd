"""Synthesize the reference pipeline's stacks once per session (in-process, ``App(outdir=tmp)``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/stepml:test"
NODE_BIN = ROOT / "node_modules" / ".bin"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")


@dataclass
class Synth:
    outdir: Path
    templates: dict[str, dict[str, Any]]  # "data" | "monitoring" | "pipeline" -> template JSON
    stacks: Any  # infra.app.Stacks
    template_objs: dict[str, Any]  # aws_cdk.assertions.Template per stack

    def path(self, kind: str) -> Path:
        return self.outdir / f"{self.stacks_name(kind)}.template.json"

    def stacks_name(self, kind: str) -> str:
        return str(getattr(self.stacks, kind).stack_name)


def synthesize(outdir: Path, *, spec: Path | None = None, image_uri: str | None = IMAGE_URI, nag: bool = True) -> Synth:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.app import build, config_from_context

    context: dict[str, Any] = {}
    if image_uri:
        context["image_uri"] = image_uri
    if spec is not None:
        context["spec"] = str(spec)
    app = cdk.App(outdir=str(outdir), context=context)
    stacks = build(app, config_from_context(app), nag=nag)
    app.synth()
    templates, objs = {}, {}
    for kind in ("data", "monitoring", "pipeline"):
        stack = getattr(stacks, kind)
        templates[kind] = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
        objs[kind] = Template.from_json(templates[kind])
    return Synth(outdir, templates, stacks, objs)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk") / "cdk.out")


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """``node_modules/.bin`` with the pinned CLI and asl-validator (``scripts/setup_node.sh`` installs them)."""
    if not (NODE_BIN / "asl-validator").exists() or not (NODE_BIN / "cdk").exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is missing: install Node 20+ and run scripts/setup_node.sh")
        subprocess.run(["bash", str(ROOT / "scripts" / "setup_node.sh")], check=True, cwd=ROOT)
    return NODE_BIN


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """The IAM statements of the policies attached to the role ``role_id`` (its logical id)."""
    return [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def handler_role_statements(template: dict[str, Any], handler_suffix: str) -> list[dict[str, Any]]:
    """The IAM statements attached to the role of the Lambda function whose handler ends with ``handler_suffix``."""
    function = next(
        f for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].endswith(handler_suffix)
    )  # fmt: skip
    return role_statements(template, function["Properties"]["Role"]["Fn::GetAtt"][0])


def actions(statement: dict[str, Any]) -> list[str]:
    """A statement's actions, always as a list."""
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def state_machine_definition(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(DefinitionString, DefinitionSubstitutions) of the pipeline stack's one state machine."""
    (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    return props["DefinitionString"], props.get("DefinitionSubstitutions", {})
