"""The plan: from a pipeline's :class:`PlanInput` and the run parameters to the ordered steps and their keys.

``Pipeline.plan_input()`` (``stepml.spec``) reduces a validated spec to this small JSON-able record: per step its
type, dependencies, significant parameters, significant configuration (what its type says enters the key) and
code digest. :func:`make_plan` is a pure function of that record and the parameters. The local runner calls it;
the cloud plan Lambda embeds the same record and calls the same function (this module imports only the standard
library), so local and cloud keys are equal for the same spec and parameters.

A step's key is the SHA-256 (first 20 hex digits) of the canonical JSON of its key components:
``{"step", "type", "params", "config", "code", "upstream": {name: key}}``, and ``"resolved"`` for a step whose
output depends on state outside the plan - a model it looks up by alias (``lookup``): a :data:`Resolver` (the
local model registry, or SageMaker's model package groups in the plan Lambda) turns the lookup into the model
version it finds, and the key holds that version's **content digest**, never the alias.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Collection, Mapping
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
    # state outside the plan the step's output depends on, looked up when the run is planned:
    # a model {"kind": "model", "model": name, "alias": "champion" | "challenger" | "<N>", "required": bool,
    #          "unless_from": upstream step whose own model does not count (a gate's candidate)}
    # or its type's own (an extract's {"kind": "data", ...}: the data version of its sources)
    # or several: {"kind": "all", "lookups": {part: lookup}} -> found {"parts": {part: found}, "digest"}
    lookup: dict[str, Any] | None = None


# step name, its lookup, {upstream step: key} -> the model version found ({"version", "digest", "uri",
# "train_key"}) or None
Resolver = Callable[[str, Mapping[str, Any], Mapping[str, str]], "dict[str, Any] | None"]


def flat_lookups(lookup: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A step's lookups one by one (a ``{"kind": "all"}`` lookup holds several): what a deployment must grant."""
    if not lookup:
        return []
    if lookup.get("kind") == "all":
        return [x for sub in dict(lookup.get("lookups") or {}).values() for x in flat_lookups(sub)]
    return [dict(lookup)]


def empty_registry(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
    """A resolver for a project whose registry holds no model yet (tests, offline tools)."""
    return None


def recorded(resolved: Mapping[str, Any]) -> Resolver:
    """A resolver that replays what an earlier resolution found (``{step: found}``): the cloud commit and notify
    Lambdas recompute the plan the plan Lambda made without looking again (the champion may have moved since)."""

    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        found = resolved.get(step)
        if isinstance(found, Mapping) and "part" in lookup:  # one of several lookups of the step
            found = (found.get("parts") or {}).get(lookup["part"])
        return dict(found) if isinstance(found, Mapping) else None

    return resolve


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
    resolved: dict[str, Any] | None = None  # the model version the step's lookup found


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


def plan_params(pinput: PlanInput, given: Mapping[str, Any], *, run_date: dt.date | None = None) -> dict[str, Any]:
    """``given`` validated against the declared parameters, defaults filled, run-date expressions evaluated at
    ``run_date``, as canonical JSON values."""
    values = params_mod.resolve(pinput.params, given, run_date=run_date)
    return {k: params_mod.to_json(v) for k, v in values.items()}


def wanted(pinput: PlanInput, targets: Collection[str]) -> set[str]:
    """``targets`` and every step they need, transitively (an unknown name is an error)."""
    by_name = {s.name: s for s in pinput.steps}
    out: set[str] = set()
    todo = list(targets)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo.extend(by_name[n].needs if n in by_name else pinput.record(n).needs)  # record(): unknown name
    return out


def make_plan(
    pinput: PlanInput,
    given: Mapping[str, Any],
    resolve: Resolver | None = None,
    *,
    run_date: dt.date | None = None,
    targets: Collection[str] | None = None,
) -> Plan:
    """Validate ``given`` against the declared parameters and compute every step's key, in dependency order;
    ``resolve`` answers the steps' model lookups (required when a step has one). Run-date expressions among the
    parameters are evaluated at ``run_date``. With ``targets``, only those steps and what they need are planned
    (their keys are the same; a step left out looks nothing up)."""
    canon = plan_params(pinput, given, run_date=run_date)
    keep = wanted(pinput, targets) if targets else None
    keys: dict[str, str] = {}
    planned: list[PlannedStep] = []
    for s in order(pinput.steps):
        if keep is not None and s.name not in keep:
            continue
        components: dict[str, Any] = {
            "step": s.name,
            "type": s.type,
            "params": {p: canon[p] for p in sorted(s.params)},
            "config": s.config,
            "code": s.code,
            "upstream": {d: keys[d] for d in sorted(s.needs)},
        }
        found = None
        if s.lookup is not None:
            found, components["resolved"] = _resolve(s, keys, resolve)
        key = digest(canonical_json(components))[:KEY_LENGTH]
        keys[s.name] = key
        planned.append(PlannedStep(s.name, s.type, key, s.needs, components, found))
    return Plan(pinput.pipeline, canon, tuple(planned))


def _resolve(
    s: StepRecord, keys: Mapping[str, str], resolve: Resolver | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(the version found, what enters the key: its content digest, or None when there is none - or when it is the
    model of ``unless_from``, which the step then uses as if there were none)."""
    lookup = s.lookup or {}
    if lookup.get("kind") == "all":  # several lookups (a serve step: its experiment, each variant's model)
        parts: dict[str, Any] = {}
        digests: dict[str, str | None] = {}
        for part, sub in sorted(dict(lookup.get("lookups") or {}).items()):
            one = StepRecord(s.name, s.type, s.needs, s.params, s.config, s.code, lookup={**sub, "part": part})
            parts[part], digests[part] = _resolve(one, keys, resolve)
        return {"parts": parts, "digest": digest(canonical_json(digests))}, digest(canonical_json(digests))
    kind = lookup.get("kind", "model")
    what = f"model {lookup.get('model')}@{lookup.get('alias')}" if kind == "model" else f"its {kind} version"
    if resolve is None:
        raise StepmlError(f"step {s.name!r} looks up {what} but nothing can resolve it here")
    found = resolve(s.name, lookup, {d: keys[d] for d in s.needs})
    if found is None:
        if lookup.get("required"):
            raise StepmlError(
                f"step {s.name!r}: {what} does not exist yet; train and register a version first "
                "(stepml models shows what there is)"
            )
        return None, None
    unless = lookup.get("unless_from")
    if unless and found.get("train_key") == keys.get(str(unless)):
        return found, None
    digest_ = found.get("digest")
    if not isinstance(digest_, str) or not digest_:
        raise StepmlError(f"step {s.name!r}: {what} (version {found.get('version')}) records no content digest")
    return found, digest_
