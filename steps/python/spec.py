"""The python step's block in pipeline.yaml: which function, what it is given, where it runs, what it may use."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepml.spec.context import SpecContext, StepIssue
from stepml.spec.models import StepSpec

ENTRY = "steps.python.entry:run"
_FUNCTION = r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$"
_ENV = r"^[A-Z_][A-Z0-9_]*$"


class Secret(BaseModel):
    """Where a secret lives in AWS; locally the environment variable of the same name holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ssm: str | None = None  # an SSM parameter name (SecureString)
    secretsmanager: str | None = None  # a Secrets Manager secret name or ARN

    @model_validator(mode="after")
    def _one(self) -> Secret:
        if (self.ssm is None) == (self.secretsmanager is None):
            raise ValueError("name exactly one of 'ssm' (a parameter name) or 'secretsmanager' (a secret name)")
        return self

    def ref(self) -> str:
        return f"ssm:{self.ssm}" if self.ssm is not None else f"secretsmanager:{self.secretsmanager}"


class Statement(BaseModel):
    """An IAM statement added to this step's own task role in AWS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: list[str] = Field(min_length=1)
    resources: list[str] = Field(min_length=1)

    def policy(self) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": list(self.actions), "Resource": list(self.resources)}


class PythonStep(StepSpec):
    type: Literal["python"]
    function: str = Field(pattern=_FUNCTION)  # package.module:callable, in the project
    inputs: dict[str, str] = {}  # argument -> upstream step ("step" or "step.table"); default: the step names
    stream: list[str] = []  # arguments given as pyarrow datasets instead of DataFrames
    config: dict[str, Any] = {}  # keyword arguments passed as they are (they enter the key)
    partitions: int | None = Field(None, ge=1, le=10_000)  # run once per partition of ``partition_by``'s files
    partition_by: str | None = None
    max_concurrency: int = Field(2, ge=1, le=1000)
    rows_per_file: int = Field(500_000, ge=1)
    secrets: dict[str, Secret] = {}  # environment variable -> where AWS keeps it
    iam: list[Statement] = []

    @field_validator("config")
    @classmethod
    def _finite_config(cls, v: dict[str, Any]) -> dict[str, Any]:
        """Config enters the key and crosses JSON boundaries (invocations, Step Functions): no NaN or infinity."""

        def walk(x: Any, where: str) -> None:
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError(f"{where} must be a finite number, got {x!r}")
            for k, item in x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ():
                walk(item, f"{where}.{k}")

        walk(v, "config")
        return v

    @property
    def module(self) -> str:
        return self.function.partition(":")[0]

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        out = []
        for arg, source in self.inputs.items():
            if source.split(".")[0] not in self.needs:
                out.append(StepIssue(f"argument {arg!r} reads {source!r}, which is not in 'needs'", ("inputs", arg)))
        for arg in self.stream:
            if arg not in self.argument_sources():
                out.append(
                    StepIssue(f"{arg!r} is not an input argument ({sorted(self.argument_sources())})", ("stream",))
                )
        if self.partitions is not None and self.partition_by not in self.needs:
            out.append(
                StepIssue(
                    "a partitioned step names the upstream step to partition in 'partition_by'", ("partition_by",)
                )
            )
        for name in self.secrets:
            if not re.match(_ENV, name):
                out.append(StepIssue("a secret is named by its environment variable (A-Z, 0-9, _)", ("secrets", name)))
        return out

    def argument_sources(self) -> dict[str, str]:
        """Argument name -> ``step`` or ``step.table`` it receives (the declared inputs, else every upstream by
        its own name)."""
        return dict(self.inputs) if self.inputs else {n: n for n in self.needs}

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        return {
            "function": self.function,
            "inputs": self.argument_sources(),
            "stream": sorted(self.stream),
            "config": self.config,
            "partitions": self.partitions,
            "partition_by": self.partition_by,
            "rows_per_file": self.rows_per_file,
        }

    def code_modules(self, ctx: SpecContext) -> list[str]:
        return [self.module, *self.sources]

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        return {"processing": bool(self.resources.instance_type)}

    def entry_config(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "inputs": self.argument_sources(),
            "stream": list(self.stream),
            "config": self.config,
            "params": list(self.params),
            "rows_per_file": self.rows_per_file,
            "secrets": sorted(self.secrets),
        }
