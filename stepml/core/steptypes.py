"""Step types: one descriptor per type, found through one registry.

A step type is one unit - a folder such as ``steps/score/`` - whose ``__init__.py`` defines ``STEP_TYPE``, a
:class:`StepType`. The descriptor names its facets by dotted path (``"module:attribute"``), imported only when
they are used, so loading a spec never imports pandas and the Lambda handlers import only the ``cloud`` facet:

    spec     the pydantic model of the step's block in pipeline.yaml (``stepml.sdk.StepSpec``): validation, what
             enters the cache key, the settings the cloud Lambdas need
    local    how it runs on a laptop: ``run(ctx: LocalContext) -> StepResult``
    states   the states it compiles to: ``build(b: StepStates) -> str`` (the name of its first state)
    cloud    a module run by the Lambda handlers (standard library + boto3): ``finish(ctx)`` builds the output's
             summary after the native task; optionally ``plan_entry(ctx)`` adds to the plan's per-step entry
    read     how its output is read back (``stepml.load``, ``stepml.build``, the notebook API)
    cli      optional: ``register(app)`` adds commands to the ``stepml`` command line
    helpers  optional: functions offered to the notebook API by name (the extract's ``fetch``)

and declares what it produces and consumes (the kinds of output its upstream steps must provide), the modules
whose code enters its key, and the metrics it publishes (the names alarms may watch).

Where types come from: the packages in :data:`BUILTIN_PACKAGES` (each subpackage with a ``STEP_TYPE`` is a type;
adding a folder there adds a type), the packages a spec lists under ``step_types:``, and installed distributions'
``stepml.step_types`` entry points (``name = "package.module:STEP_TYPE"``).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The step types that ship with stepml: one folder per type in this package.
BUILTIN_PACKAGES: tuple[str, ...] = ("steps",)
ENTRY_POINT_GROUP = "stepml.step_types"
FACETS = ("spec", "local", "states", "cloud", "read")


@dataclass(frozen=True)
class Consumes:
    """An upstream rule: between ``min`` and ``max`` (None: any number) upstream steps that produce ``kind``."""

    kind: str
    min: int = 0
    max: int | None = 1


@dataclass(frozen=True)
class StepType:
    name: str
    spec: str
    local: str
    states: str
    cloud: str
    read: str
    produces: tuple[str, ...] = ()
    consumes: tuple[Consumes, ...] = ()
    any_upstream: bool = False  # True: any upstream is allowed (``consumes`` then only names required kinds)
    min_upstream: int = 0
    sources: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    cli: str | None = None
    helpers: Mapping[str, str] = field(default_factory=dict)  # functions it offers the notebook API, by name
    description: str = ""
    package: str = field(default="", compare=False)  # where it was found (set by the registry)

    def facet(self, name: str) -> Any:
        """Import and return a facet (``spec``, ``local``, ``states``, ``cloud``, ``read``, ``cli``)."""
        ref = getattr(self, name)
        if not ref:
            raise LookupError(f"step type {self.name!r} has no {name} facet")
        return load(ref)

    def helper(self, name: str) -> Any:
        """A function the type offers the notebook API (e.g. the extract's ``fetch``)."""
        if name not in self.helpers:
            raise LookupError(f"step type {self.name!r} offers no {name!r}")
        return load(self.helpers[name])

    def assign(self, upstream: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[str]], list[str]]:
        """Match upstream steps (name -> the kinds it produces) to this type's rules, in rule order.

        Returns (kind -> upstream names, problems). Each upstream goes to the first rule whose kind it produces;
        an upstream no rule takes is a problem unless ``any_upstream``.
        """
        taken: dict[str, list[str]] = {c.kind: [] for c in self.consumes}
        problems: list[str] = []
        for name, kinds in upstream.items():
            rule = next((c for c in self.consumes if c.kind in kinds), None)
            if rule is not None:
                taken[rule.kind].append(name)
            elif not self.any_upstream:
                produced = ", ".join(kinds) or "nothing"
                problems.append(f"a {self.name} step cannot depend on {name!r} (it produces {produced})")
        for c in self.consumes:
            n = len(taken[c.kind])
            if n < c.min or (c.max is not None and n > c.max):
                want = f"exactly {c.min}" if c.min == c.max else (f"{c.min} to {c.max}" if c.max else f"{c.min}+")
                problems.append(f"a {self.name} step needs {want} upstream step(s) producing {c.kind!r}, found {n}")
        if len(upstream) < self.min_upstream:
            problems.append(f"a {self.name} step needs at least {self.min_upstream} upstream step(s)")
        return taken, problems


def load(ref: str) -> Any:
    """``"package.module:attribute"`` -> the attribute; ``"package.module"`` -> the module."""
    module, _, attr = ref.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


class Registry:
    """The step types visible to a spec: built-ins, the spec's ``step_types`` packages, entry points."""

    def __init__(self, packages: Iterable[str] = ()) -> None:
        self.packages = tuple(dict.fromkeys([*BUILTIN_PACKAGES, *packages]))
        self._types: dict[str, StepType | None] = {}
        self._entry_points: dict[str, str] | None = None

    def get(self, name: str) -> StepType | None:
        if name not in self._types:
            self._types[name] = self._find(name)
        return self._types[name]

    def _find(self, name: str) -> StepType | None:
        if not name.isidentifier():
            return None
        for package in self.packages:
            module = f"{package}.{name}"
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if found:
                return _descriptor(load(module), module, name)
        ref = self.entry_points().get(name)
        return _descriptor(load(ref), ref, name) if ref else None

    def entry_points(self) -> dict[str, str]:
        if self._entry_points is None:
            from importlib.metadata import entry_points

            self._entry_points = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return self._entry_points

    def names(self) -> list[str]:
        """Every type the registry can find (imports each package's descriptors, nothing heavier)."""
        found: set[str] = set(self.entry_points())
        for package in self.packages:
            try:
                pkg = importlib.import_module(package)
            except ModuleNotFoundError:
                continue
            for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
                if info.ispkg and not info.name.startswith("_") and self.get(info.name) is not None:
                    found.add(info.name)
        return sorted(found)

    def types(self) -> list[StepType]:
        return [t for n in self.names() if (t := self.get(n)) is not None]


def _descriptor(obj: Any, where: str, name: str) -> StepType | None:
    descriptor = getattr(obj, "STEP_TYPE", obj)
    if not isinstance(descriptor, StepType):
        return None
    if descriptor.name != name:
        raise LookupError(f"{where} declares step type {descriptor.name!r}, expected {name!r}")
    return StepType(**{**descriptor.__dict__, "package": where})
