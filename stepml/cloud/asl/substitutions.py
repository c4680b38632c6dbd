"""``${Name}`` placeholders of a compiled definition: filled by CloudFormation from the state machine's
``DefinitionSubstitutions``; :func:`resolve` fills them for printing or validating offline."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def resolve(definition: Mapping[str, Any], values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``definition`` with every ``${Name}`` replaced by ``values[Name]`` (or a readable stand-in)."""
    text = json.dumps(definition)
    filled = _PLACEHOLDER.sub(lambda m: (values or {}).get(m.group(1), example(m.group(1))), text)
    result: dict[str, Any] = json.loads(filled)
    return result


def example(name: str) -> str:
    """A syntactically valid stand-in for a placeholder (for printing and validating offline)."""
    account, region = "123456789012", "us-east-1"
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:{region}:{account}:function:stepml-{name.removesuffix('FunctionArn').lower()}"
    if name == "TopicArn":
        return f"arn:aws:sns:{region}:{account}:stepml-notifications"
    if name.endswith("RoleArn"):
        return f"arn:aws:iam::{account}:role/stepml-{name.removesuffix('RoleArn').lower()}"
    if name == "ClusterArn":
        return f"arn:aws:ecs:{region}:{account}:cluster/stepml"
    if name.startswith("TaskDefinition"):
        return f"arn:aws:ecs:{region}:{account}:task-definition/stepml-{name.removeprefix('TaskDefinition').lower()}:1"
    if name == "ImageUri":
        return f"{account}.dkr.ecr.{region}.amazonaws.com/stepml:latest"
    if name.startswith("Subnet"):
        return f"subnet-0000000000000000{name.removeprefix('Subnet')}"
    if name == "SecurityGroupId":
        return "sg-00000000000000000"
    return f"stepml-{name.lower()}"
