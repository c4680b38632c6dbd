"""What a step type's spec model sees when the spec is checked and reduced to its plan input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepml.core.steptypes import Registry, StepType
    from stepml.spec.models import PipelineSpec, StepSpec


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
