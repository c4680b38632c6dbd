"""A validated pipeline: the spec, each step typed by its step type, and what its plan is made of."""

from __future__ import annotations

import importlib.util
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.core import params as params_mod
from stepml.core.digest import CodeDigest, Finder, code_digest
from stepml.core.plan import ParamRecord, PlanInput, StepRecord, digest
from stepml.core.schedule import ScheduleRecord
from stepml.errors import Issue, SpecError
from stepml.spec.context import SpecContext, SpecFileError

if TYPE_CHECKING:
    from stepml.core.steptypes import Registry, StepType
    from stepml.spec.models import PipelineSpec, StepSpec


class Pipeline:
    """A validated spec plus where it came from: its folder (relative paths in the spec are relative to it)."""

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        steps: dict[str, StepSpec],
        types: dict[str, StepType],
        registry: Registry,
        path: Path,
    ) -> None:
        self.spec = spec
        self.steps = steps
        self.types = types
        self.registry = registry
        self.path = path
        self.base_dir = path.parent
        self._contexts: dict[str, SpecContext] = {}
        self._texts: dict[Path, str] = {}
        self._digests: dict[str, CodeDigest] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    def step(self, name: str) -> StepSpec:
        return self.steps[name]

    def step_type(self, name: str) -> StepType:
        return self.types[name]

    def context(self, name: str) -> SpecContext:
        if name not in self._contexts:
            self._contexts[name] = SpecContext(
                name, self.spec, self.base_dir, self.steps, self.registry, _texts=self._texts
            )
        return self._contexts[name]

    def upstream(self, name: str) -> dict[str, list[str]]:
        """This step's upstream steps by the kind its type takes them as (see ``StepType.assign``)."""
        step_type = self.types[name]
        taken, _ = step_type.assign({d: self.types[d].produces for d in self.steps[name].needs})
        return taken

    # ------------------------------------------------------------------ code
    @cached_property
    def project_root(self) -> Path:
        """Where the project's own Python packages live (user steps, model factories): the spec's
        ``project_root`` (relative to the spec), else the nearest folder at or above the spec that holds a
        ``pyproject.toml``, else the spec's folder. Runs put it on the import path."""
        if self.spec.project_root is not None:
            return self.resolve(self.spec.project_root).resolve()
        for folder in (self.base_dir, *self.base_dir.parents):
            if (folder / "pyproject.toml").is_file():
                return folder
        return self.base_dir

    @cached_property
    def finder(self) -> Finder:
        """Modules are looked up in the project (the spec's folder) first, then in the folders that hold the
        top-level packages the steps' modules belong to (where Python finds them, without importing more)."""
        tops = {m.split(".")[0] for name in self.steps for m in self._modules(name)}
        roots = [self.project_root]
        for top in sorted(tops):
            if (self.project_root / top).exists() or (self.project_root / f"{top}.py").exists():
                continue
            found = importlib.util.find_spec(top)
            locations = list(found.submodule_search_locations or []) if found else []
            origin = locations[0] if locations else (found.origin if found else None)
            if origin:
                roots.append(Path(origin).resolve().parent)
        return Finder(list(dict.fromkeys(roots)))

    def code_modules(self, name: str) -> dict[str, list[str]]:
        """The modules a step's code digest starts from: its type's and its own (imports are followed)."""
        return {"type": list(self.types[name].sources), "own": self.steps[name].code_modules(self.context(name))}

    def _modules(self, name: str) -> list[str]:
        return list(dict.fromkeys([*self.types[name].sources, *self.steps[name].code_modules(self.context(name))]))

    def code_digest(self, name: str) -> CodeDigest:
        """The digest of the step's code: its type's sources and its own modules, imports followed."""
        if name not in self._digests:
            own = self.steps[name].code_modules(self.context(name))
            try:
                self._digests[name] = code_digest(self.types[name].sources, own, self.finder)
            except LookupError as exc:
                raise SpecError([Issue(f"steps.{name}", f"cannot hash the step's code: {exc}")]) from exc
        return self._digests[name]

    # ------------------------------------------------------------------ the plan's input
    @cached_property
    def plan_input(self) -> PlanInput:
        """What keys depend on, reduced to a JSON-able record (the cloud plan Lambda embeds it)."""
        records = []
        for name, step in self.steps.items():
            ctx = self.context(name)
            try:
                config = step.key_config(ctx)
                significant = step.key_params(ctx)
            except SpecFileError as exc:
                raise SpecError([Issue(f"steps.{name}", str(exc))]) from exc
            records.append(
                StepRecord(
                    name=name,
                    type=step.type,
                    needs=tuple(step.needs),
                    params=tuple(sorted(significant)),
                    config=config,
                    code=self.code_digest(name).digest,
                    lookup=step.lookup(ctx),
                )
            )
        params = {
            k: ParamRecord(type=p.type, default=params_mod.to_json(p.default), min=p.min, max=p.max, choices=p.choices)
            for k, p in self.spec.params.items()
        }
        return PlanInput(self.spec.name, params, tuple(records))

    @cached_property
    def schedules(self) -> dict[str, ScheduleRecord]:
        """Every schedule by name, as a run needs it (``stepml.core.schedule``; the Lambda config embeds them)."""
        return {
            n: ScheduleRecord(s.timezone, dict(s.params), tuple(s.steps))
            for n, s in self.spec.named_schedules().items()
        }

    def cloud_settings(self) -> dict[str, dict[str, Any]]:
        """Per step: its type, upstream steps, and what its type's cloud facet reads (the Lambda config)."""
        return {
            name: {
                "type": step.type,
                "needs": list(step.needs),
                "upstream": self.upstream(name),
                **step.cloud_settings(self.context(name)),
            }
            for name, step in self.steps.items()
        }


def text_digest(text: str) -> str:
    """The digest a step type puts in its key for a file's text (e.g. an extract's SQL)."""
    return digest(text)
