"""Loading pipeline.yaml: every problem at once, each with its line and column in the file.

The spec is read as YAML, the pipeline-wide parts validated (:class:`~stepml.spec.models.PipelineSpec`), then
each step by the spec model of its type, found in the step-type registry: an unknown type is a problem here,
naming the known ones. Then the graph (missing or unknown dependencies, cycles, upstream steps of a kind the type
does not take - each type declares what it consumes and produces) and the checks only the whole spec shows
(files a step names, run parameters, alarm metrics). Loading imports neither pandas nor sqlglot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stepml.core.steptypes import Registry, StepType
from stepml.errors import Issue, SpecError
from stepml.spec.context import SpecFileError, StepIssue
from stepml.spec.models import DEFAULT_SPEC, PipelineSpec, StepSpec
from stepml.spec.pipeline import Pipeline
from stepml.spec.project import spec_path

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
MAX_DEPTH = 64  # a pipeline spec nests about 6 deep; 1,000 makes a huge traceback, 100,000 crashes the loader
MAX_NODES = 100_000  # nodes after expanding aliases: a 4 KB "billion laughs" would take gigabytes
# pipeline-wide metrics in the stepml namespace: none is published (executions are Step Functions' own AWS/States
# metrics, watched by the stacks' pipeline alarms), so an alarm may name only what a step type publishes
CORE_METRICS: tuple[str, ...] = ()


class Positions:
    """Every path in the YAML document -> its (line, column), 1-based; composed only when a problem needs it."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._map: dict[tuple[str, ...], tuple[int, int]] | None = None

    def _positions(self) -> dict[tuple[str, ...], tuple[int, int]]:
        if self._map is None:
            self._map = _compose_positions(self._text)
        return self._map

    def locate(self, loc: tuple[Any, ...]) -> tuple[int, int] | tuple[None, None]:
        """The position of the deepest existing prefix of ``loc``."""
        positions = self._positions()
        path: tuple[str, ...] = ()
        best = positions.get(())
        for part in loc:
            candidate = (*path, str(part))
            if candidate in positions:
                path = candidate
                best = positions[candidate]
        return best or (None, None)

    def issue(self, where: str, message: str, *path: str) -> Issue:
        return Issue(where, message, *self.locate(path))


def _compose_positions(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    positions: dict[tuple[str, ...], tuple[int, int]] = {}
    root = yaml.compose(text, Loader=_Loader)

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                positions[child] = (key.start_mark.line + 1, key.start_mark.column + 1)
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, str(i)))

    if root is not None:
        walk(root, ())
    return positions


def _check_shape(text: str, name: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or larger than MAX_NODES with its aliases expanded.

    Scans the parser's events (flat, no recursion, nothing constructed) before anything builds the document.
    """
    depth = total = 0
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    open_: list[tuple[str | None, int]] = []
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, yaml.AliasEvent):
            total += sizes.get(ev.anchor, 1)
        elif isinstance(ev, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            total += 1
            if isinstance(ev, yaml.ScalarEvent) and ev.anchor:
                sizes[ev.anchor] = 1
        if isinstance(ev, yaml.CollectionStartEvent):
            depth += 1
            open_.append((ev.anchor, total - 1))
            if depth > MAX_DEPTH:
                message = f"nested deeper than {MAX_DEPTH} levels; refusing to load it"
                raise SpecError([Issue("<yaml>", message, ev.start_mark.line + 1, ev.start_mark.column + 1)], name)
        elif isinstance(ev, yaml.CollectionEndEvent):
            depth -= 1
            anchor, start = open_.pop()
            if anchor:
                sizes[anchor] = total - start
        if total > MAX_NODES:
            message = f"more than {MAX_NODES:,} values with its aliases expanded (an alias bomb?); refusing to load it"
            raise SpecError([Issue("<yaml>", message, ev.start_mark.line + 1, ev.start_mark.column + 1)], name)


def _pydantic_issues(exc: ValidationError, positions: Positions, prefix: tuple[str, ...] = ()) -> list[Issue]:
    issues = []
    for err in exc.errors():
        loc = (*prefix, *(str(p) for p in err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        issues.append(Issue(".".join(loc) or "<root>", message, *positions.locate(loc)))
    return issues


def _validate_steps(
    raw_steps: dict[str, Any], registry: Registry, positions: Positions
) -> tuple[dict[str, StepSpec], dict[str, StepType], list[Issue]]:
    """Each step's block by the spec model of its type."""
    steps: dict[str, StepSpec] = {}
    types: dict[str, StepType] = {}
    issues: list[Issue] = []
    for name, block in raw_steps.items():
        where = ("steps", str(name))
        if not isinstance(block, dict):
            issues.append(positions.issue(".".join(where), "a step must be a mapping with a 'type'", *where))
            continue
        kind = block.get("type")
        if not isinstance(kind, str):
            issues.append(positions.issue(f"steps.{name}.type", "required key is missing (the step's type)", *where))
            continue
        step_type = registry.get(kind)
        if step_type is None:
            known = ", ".join(registry.names())
            message = f"unknown step type {kind!r}; known types: {known}"
            issues.append(positions.issue(f"steps.{name}.type", message, *where, "type"))
            continue
        model: type[StepSpec] = step_type.facet("spec")
        try:
            steps[name] = model.model_validate(block)
            types[name] = step_type
        except ValidationError as exc:
            issues.extend(_pydantic_issues(exc, positions, where))
    return steps, types, issues


def _graph_issues(raw_steps: dict[str, Any], types: dict[str, StepType], positions: Positions) -> list[Issue]:
    """Dependencies: known, not the step itself, no cycle, each of a kind the step's type takes."""
    issues: list[Issue] = []
    needs: dict[str, list[str]] = {}
    for name, block in raw_steps.items():
        deps = block.get("needs") if isinstance(block, dict) else None
        if not isinstance(deps, list):
            continue
        needs[name] = [str(d) for d in deps]
        where = f"steps.{name}.needs"
        for i, dep in enumerate(needs[name]):
            if dep not in raw_steps:
                issues.append(
                    positions.issue(where, f"depends on {dep!r}, which is not a step", *where.split("."), str(i))
                )
            elif dep == name:
                issues.append(positions.issue(where, "a step cannot depend on itself", *where.split("."), str(i)))
        step_type = types.get(name)
        if step_type is None or any(d not in types for d in needs[name] if d in raw_steps and d != name):
            continue
        upstream = {d: types[d].produces for d in needs[name] if d in types and d != name}
        _, problems = step_type.assign(upstream)
        issues.extend(positions.issue(where, p, *where.split(".")) for p in problems)
    for cycle in _cycles(needs):
        where = f"steps.{cycle[0]}.needs"
        issues.append(positions.issue(where, "dependency cycle: " + " -> ".join(cycle), *where.split(".")))
    return issues


def _cycles(needs: dict[str, list[str]]) -> list[list[str]]:
    """One representative path per dependency cycle (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in needs.get(n, []):
            if d not in needs:
                continue
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                if frozenset(cycle) not in seen_sets:
                    seen_sets.add(frozenset(cycle))
                    found.append(cycle)
            elif state.get(d) is None:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(needs):
        if state.get(n) is None:
            visit(n)
    return found


def _semantic_issues(pipeline: Pipeline, positions: Positions) -> list[Issue]:
    """What only the whole spec shows: each type's own checks, declared parameters, alarm metrics."""
    spec = pipeline.spec
    issues: list[Issue] = []
    for name, step in pipeline.steps.items():
        for i, p in enumerate(step.params):
            if p not in spec.params:
                issues.append(
                    positions.issue(f"steps.{name}.params", f"unknown parameter {p!r}", "steps", name, "params", str(i))
                )
        ctx = pipeline.context(name)
        try:
            found: list[StepIssue] = step.issues(ctx)
        except SpecFileError as exc:
            found = [StepIssue(str(exc))]
        for problem in found:
            where = ".".join(("steps", name, *problem.path))
            issues.append(positions.issue(where, problem.message, "steps", name, *problem.path))
    known = set(CORE_METRICS).union(*(t.metrics for t in pipeline.types.values()))
    for i, alarm in enumerate(spec.alarms):
        if alarm.metric not in known:
            message = f"unknown metric {alarm.metric!r}; known: {sorted(known)}"
            issues.append(positions.issue(f"alarms.{i}.metric", message, "alarms", str(i), "metric"))
    issues.extend(_schedule_issues(pipeline, positions))
    return issues


def _schedule_issues(pipeline: Pipeline, positions: Positions) -> list[Issue]:
    """Each schedule's parameters are declared and their values (run-date expressions included) have the declared
    type; the steps it runs exist."""
    from stepml.core.params import VALIDATION_DATE, coerce

    spec = pipeline.spec
    issues: list[Issue] = []
    for name, schedule in spec.named_schedules().items():
        at = ("schedule",) if spec.schedule is not None else ("schedules", name)
        for k, value in schedule.params.items():
            path = (*at, "params", k)
            if k not in spec.params:
                message = f"unknown parameter; declared: {', '.join(sorted(spec.params)) or 'none'}"
                issues.append(positions.issue(".".join(path), message, *path))
                continue
            decl = spec.params[k]
            try:
                coerce(decl.type, value, decl, run_date=VALIDATION_DATE)
            except ValueError as exc:
                issues.append(positions.issue(".".join(path), f"{exc} ({decl.type})", *path))
        for i, step in enumerate(schedule.steps):
            if step not in pipeline.steps:
                path = (*at, "steps", str(i))
                message = f"unknown step {step!r}; steps: {', '.join(pipeline.steps)}"
                issues.append(positions.issue(".".join(path[:-1]), message, *path))
    return issues


def load_spec(path: str | Path = DEFAULT_SPEC) -> Pipeline:
    """Read, validate and return the pipeline at ``path`` (or the project's pipeline of that name); raise
    ``SpecError`` listing every problem."""
    p = spec_path(path)
    name = str(p)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError([Issue("<file>", f"cannot read spec: {exc.strerror}")], name) from exc
    try:
        _check_shape(text, name)
        raw = yaml.load(text, Loader=_Loader)  # _Loader is a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        raise SpecError([Issue("<yaml>", f"not valid YAML: {getattr(exc, 'problem', exc)}", line, col)], name) from exc
    if not isinstance(raw, dict):
        raise SpecError([Issue("<root>", "the spec must be a mapping (name, steps, ...)", 1, 1)], name)
    positions = Positions(text)
    issues: list[Issue] = []
    spec: PipelineSpec | None = None
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        issues.extend(i for i in _pydantic_issues(exc, positions) if not i.where.startswith("steps."))
    packages: list[Any] = raw["step_types"] if isinstance(raw.get("step_types"), list) else []
    registry = Registry(str(x) for x in packages)
    raw_steps: dict[str, Any] = raw["steps"] if isinstance(raw.get("steps"), dict) else {}
    steps, types, step_issues = _validate_steps(raw_steps, registry, positions)
    issues.extend(step_issues)
    issues.extend(_graph_issues(raw_steps, types, positions))
    pipeline: Pipeline | None = None
    if spec is not None:  # semantic checks of the steps that validated: not hidden by the others' problems
        pipeline = Pipeline(spec, steps=steps, types=types, registry=registry, path=p.resolve())
        issues.extend(_semantic_issues(pipeline, positions))
    if issues:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise SpecError(issues, name)
    assert pipeline is not None
    return pipeline
