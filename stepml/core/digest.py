"""Code digests: the SHA-256 of the Python modules a step runs, followed through the project's own imports.

A step's cache key holds the digest of its code (gokart hashes a task's code into its output path). For a step
type that is the modules its descriptor names (``StepType.sources``); for a user's ``python`` step, the module of
its function; plus whatever a spec names in ``sources:``. From each module the digest follows every
``import`` / ``from ... import`` it finds - at the top or inside functions - to the modules they name, as long as
those live in the same top-level package as a starting module or (for the step's own modules) in a package of the
project's own (a folder at the project's root), and never into ``stepml`` itself (the framework: its version is
recorded in each manifest) or third-party packages (their versions are recorded too). Editing a function or anything it imports changes the digest;
editing an unrelated file does not. Modules are found on disk without importing them; imports are read with a
scanner that tolerates any valid syntax (it may follow a name that only looks like an import, which can only add
a file, never lose one).

Pure standard library.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

FRAMEWORK = "stepml"
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<base>[.\w]+)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n#;]+)|import[ \t]+(?P<mods>[^\n#;]+))",
    re.M,
)
_COMMENT = re.compile(r"#[^\n]*")


@dataclass(frozen=True)
class Source:
    module: str
    path: Path


@dataclass(frozen=True)
class CodeDigest:
    digest: str
    sources: tuple[Source, ...]  # every file that went into the digest, in module-name order

    def files(self, relative_to: Path | None = None) -> list[str]:
        out = []
        for s in self.sources:
            try:
                out.append(str(s.path.relative_to(relative_to)) if relative_to else str(s.path))
            except ValueError:
                out.append(str(s.path))
        return out


class Finder:
    """Finds modules on disk under ``roots`` (search order) without importing them."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self._cache: dict[str, Path | None] = {}
        self._local: set[str] | None = None

    def find(self, module: str) -> Path | None:
        if module in self._cache:
            return self._cache[module]
        found = None
        rel = Path(*module.split("."))
        for root in self.roots:
            for candidate in (root / rel / "__init__.py", root / rel.with_suffix(".py")):
                if candidate.is_file():
                    found = candidate
                    break
            if found:
                break
        self._cache[module] = found
        return found

    def project_packages(self) -> set[str]:
        """Top-level packages and modules that live directly in the first root (the project's own code)."""
        if self._local is None:
            self._local = set()
            root = self.roots[0] if self.roots else None
            if root is not None and root.is_dir():
                for child in root.iterdir():
                    if child.name.startswith((".", "_")):
                        continue
                    if child.is_dir() and (child / "__init__.py").is_file():
                        self._local.add(child.name)
                    elif child.suffix == ".py":
                        self._local.add(child.stem)
        return self._local


def imported_modules(text: str, module: str, *, is_package: bool) -> list[str]:
    """Absolute names of the modules ``text`` (the source of ``module``) may import, parents included."""
    out: list[str] = []
    package = module if is_package else module.rpartition(".")[0]
    for m in _IMPORT.finditer(text):
        if m.group("mods"):
            for part in m.group("mods").split(","):
                name = part.strip().split(" as ")[0].strip()
                if re.fullmatch(r"[\w.]+", name):
                    out.extend(_with_parents(name))
            continue
        base = m.group("base")
        names = _COMMENT.sub("", m.group("names")).strip("() \t\n")
        if base.startswith("."):
            dots = len(base) - len(base.lstrip("."))
            anchor = package.split(".") if package else []
            anchor = anchor[: len(anchor) - (dots - 1)] if dots > 1 else anchor
            base = ".".join([*anchor, base.lstrip(".")] if base.lstrip(".") else anchor)
        if not base:
            continue
        out.extend(_with_parents(base))
        for part in names.split(","):
            name = part.strip().split(" as ")[0].strip()
            if re.fullmatch(r"\w+", name):
                out.append(f"{base}.{name}")  # a submodule, if it is one (the finder decides)
    return out


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def closure(modules: Iterable[str], finder: Finder, *, project: bool = True) -> list[Source]:
    """``modules`` and every module they import transitively within their own top-level packages and - with
    ``project`` - the project's packages, ``stepml`` excluded; sorted by module name. A starting module that
    cannot be found is a ``LookupError`` naming it."""
    modules = list(modules)
    followed_tops = {m.split(".")[0] for m in modules} | (finder.project_packages() if project else set())
    followed_tops.discard(FRAMEWORK)
    seen: dict[str, Path] = {}
    todo = list(modules)
    starts = set(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = finder.find(name)
        if path is None:
            if name in starts:
                raise LookupError(f"module {name!r} not found under {', '.join(map(str, finder.roots))}")
            continue
        seen[name] = path
        text = path.read_text(encoding="utf-8", errors="replace")
        for dep in imported_modules(text, name, is_package=path.name == "__init__.py"):
            if dep.split(".")[0] in followed_tops and dep not in seen:
                todo.append(dep)
    return [Source(m, seen[m]) for m in sorted(seen)]


def code_digest(type_modules: Iterable[str], own_modules: Iterable[str], finder: Finder) -> CodeDigest:
    """SHA-256 over the module names and contents of a step's code: its type's modules followed within their own
    packages (so a built-in type hashes the same wherever the spec lives), and the step's own modules (a user's
    function, ``sources:``) followed into the project's packages too."""
    own = list(own_modules)
    found = {s.module: s for s in closure(type_modules, finder, project=False)}
    found.update({s.module: s for s in closure(own, finder)} if own else {})
    sources = [found[m] for m in sorted(found)]
    h = hashlib.sha256()
    for s in sources:
        h.update(s.module.encode() + b"\0")
        h.update(s.path.read_bytes())
        h.update(b"\0")
    return CodeDigest(h.hexdigest(), tuple(sources))
