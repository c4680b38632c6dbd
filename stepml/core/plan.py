"""The plan: from a pipeline's :class:`PlanInput` and the run parameters to the ordered steps and their keys.

``Pipeline.plan_input()`` (``stepml.spec``) reduces a validated spec to this small JSON-able record: per step its
type, dependencies, significant parameters, significant configuration (what its type says enters the key) and
code digest. :func:`make_plan` is a pure function of that record and the parameters. The local runner calls it;
the cloud plan Lambda embeds the same record and calls the same function (this module imports only the standard
library), so local and cloud keys are equal for the same spec and parameters.

A step's key is the SHA-256 (first 20 hex digits) of the canonical JSON of its key components:
``{"step", "type", "params", "config", "code", "upstream": {name: key}}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stepml.core import params as params_mod
from stepml.errors import StepmlError

KEY_LENGTH = 20
PLAN_SCHEMA = "stepml.plan/2"


@dataclass(frozen=True)
class ParamRecord:
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None


@dataclass(frozen=True)
class StepRecord:
    name: str
    type: str
    needs: tuple[str, ...]
    params: tuple[str, ...]
    config: dict[str, Any]
    code: str


@dataclass(frozen=True)
class PlanInput:
    pipeline: str
    params: dict[str, ParamRecord]
    steps: tuple[StepRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {"schema": PLAN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanInput:
        return cls(
            pipeline=data["pipeline"],
            params={k: ParamRecord(**v) for k, v in data["params"].items()},
            steps=tuple(
                StepRecord(**{**s, "needs": tuple(s["needs"]), "params": tuple(s["params"])}) for s in data["steps"]
            ),
        )

    def record(self, name: str) -> StepRecord:
        for s in self.steps:
            if s.name == name:
                return s
        raise StepmlError(f"unknown step {name!r}; steps: {', '.join(s.name for s in self.steps)}")


@dataclass(frozen=True)
class PlannedStep:
    name: str
    type: str
    key: str
    needs: tuple[str, ...]
    components: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Plan:
    pipeline: str
    params: dict[str, Any]  # canonical JSON values
    steps: tuple[PlannedStep, ...]  # dependency order

    def step(self, name: str) -> PlannedStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise StepmlError(f"unknown step {name!r}; steps: {', '.join(s.name for s in self.steps)}")

    def downstream(self, names: set[str]) -> set[str]:
        """``names`` and every step that depends on them, transitively."""
        out = set(names)
        for s in self.steps:  # dependency order: one pass suffices
            if out.intersection(s.needs):
                out.add(s.name)
        return out

    def upstream(self, name: str) -> set[str]:
        """``name`` and everything it depends on, transitively."""
        by_name = {s.name: s for s in self.steps}
        out: set[str] = set()
        todo = [name]
        while todo:
            n = todo.pop()
            if n not in out:
                out.add(n)
                todo.extend(by_name[n].needs)
        return out


def partition_files(files: list[str], n: int) -> list[list[str]]:
    """Split a step's input files into at most ``n`` partitions, round robin: the fan-out of a partitioned step,
    the same for the local process pool and the cloud Distributed Map."""
    n = max(1, min(n, len(files)))
    return [files[i::n] for i in range(n)] if files else []


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=params_mod.to_json)


def digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def order(steps: tuple[StepRecord, ...]) -> list[StepRecord]:
    """Topological order, stable with respect to declaration order."""
    by_name = {s.name: s for s in steps}
    done: set[str] = set()
    out: list[StepRecord] = []
    while len(out) < len(steps):
        progressed = False
        for s in steps:
            if s.name not in done and all(d in done for d in s.needs):
                out.append(s)
                done.add(s.name)
                progressed = True
        if not progressed:
            raise StepmlError(f"dependency cycle among {sorted(set(by_name) - done)}")
    return out


def make_plan(pinput: PlanInput, given: Mapping[str, Any]) -> Plan:
    """Validate ``given`` against the declared parameters and compute every step's key, in dependency order."""
    values = params_mod.resolve(pinput.params, given)
    canon = {k: params_mod.to_json(v) for k, v in values.items()}
    keys: dict[str, str] = {}
    planned: list[PlannedStep] = []
    for s in order(pinput.steps):
        components = {
            "step": s.name,
            "type": s.type,
            "params": {p: canon[p] for p in sorted(s.params)},
            "config": s.config,
            "code": s.code,
            "upstream": {d: keys[d] for d in sorted(s.needs)},
        }
        key = digest(canonical_json(components))[:KEY_LENGTH]
        keys[s.name] = key
        planned.append(PlannedStep(s.name, s.type, key, s.needs, components))
    return Plan(pinput.pipeline, canon, tuple(planned))
