"""What a step type's spec model sees when the spec is checked and reduced to its plan input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepml.core.steptypes import Registry, StepType
    from stepml.spec.models import ModelSpec, PipelineSpec, StepSpec


@dataclass(frozen=True)
class StepIssue:
    """A problem with one step's block: ``path`` is relative to it (``("sql",)``, ``("columns", "age")``)."""

    message: str
    path: tuple[str, ...] = ()


class SpecFileError(Exception):
    """A file a step names cannot be read (turned into a StepIssue at the step's field)."""


@dataclass
class SpecContext:
    name: str  # the step's name
    spec: PipelineSpec
    base_dir: Path  # the spec's folder: relative paths in the spec are relative to it
    steps: dict[str, StepSpec]  # every step of the spec that validated
    registry: Registry
    _texts: dict[Path, str] = field(default_factory=dict)

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    def read_text(self, relative: str) -> str:
        """A file named in the spec (relative to the spec's folder), read once; SpecFileError if unreadable."""
        path = self.resolve(relative)
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text()
            except OSError as exc:
                raise SpecFileError(f"cannot read {path}: {exc.strerror}") from exc
        return self._texts[path]

    def step_type(self, step: str) -> StepType | None:
        s = self.steps.get(step)
        return self.registry.get(s.type) if s is not None else None

    def upstream_of(self, kind: str) -> list[str]:
        """This step's upstream steps whose type produces ``kind``."""
        needs = self.steps[self.name].needs if self.name in self.steps else []
        return [d for d in needs if (t := self.step_type(d)) is not None and kind in t.produces]

    # ------------------------------------------------------------------ models
    def model_ref(self, step: str | None = None) -> tuple[str, str | None] | None:
        """(model name, alias or None) a step uses: its own ``model`` field, else the first upstream step's
        (model producers first), else the spec's only model."""
        seen: set[str] = set()

        def walk(name: str) -> tuple[str, str | None] | None:
            s = self.steps.get(name)
            if s is None or name in seen:
                return None
            seen.add(name)
            ref = getattr(s, "model", None)
            if isinstance(ref, str) and ref:
                model, _, alias = ref.partition("@")
                return model, alias or None
            producers = [d for d in s.needs if (t := self.step_type(d)) is not None and "model" in t.produces]
            for d in [*producers, *(d for d in s.needs if d not in producers)]:
                found = walk(d)
                if found is not None:
                    return (found[0], None)
            return None

        found = walk(step or self.name)
        if found is None:
            only = list(self.spec.named_models())
            return (only[0], None) if len(only) == 1 else None
        return found

    def model(self, step: str | None = None) -> tuple[str, ModelSpec] | None:
        """(name, spec) of the model a step uses; None when it names none or an unknown one."""
        ref = self.model_ref(step)
        models = self.spec.named_models()
        return (ref[0], models[ref[0]]) if ref is not None and ref[0] in models else None

    def model_issues(self, what: str) -> list[StepIssue]:
        """Why :meth:`model` is None for this step, as an issue at its ``model`` field."""
        ref = self.model_ref()
        known = sorted(self.spec.named_models())
        if ref is None:
            if not known:
                return [StepIssue(f"{what} needs a model: declare one under 'model' or 'models'")]
            return [StepIssue(f"{what} must say which model it uses: one of {known}", ("model",))]
        if ref[0] not in known:
            return [StepIssue(f"unknown model {ref[0]!r}; models: {known or 'none declared'}", ("model",))]
        return []
