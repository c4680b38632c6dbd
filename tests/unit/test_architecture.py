"""The house: the core imports nothing above it, no module imports itself in a circle, no file grows past 400 lines."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from stepml.core.digest import imported_modules
from tests.conftest import ROOT

PACKAGES = ("stepml", "steps", "monitoring", "infra", "examples")
MAX_LINES = 400


@cache
def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def imports(path: Path, name: str, *, typing: bool = True) -> set[str]:
    """The project modules ``path`` imports (names that are modules of the tree); ``typing=False`` leaves out the
    imports under ``if TYPE_CHECKING:``, which never run."""
    text = path.read_text()
    if not typing:
        text = re.sub(r"^if TYPE_CHECKING:\n(?:(?:    .*)?\n)+", "", text, flags=re.M)
    found = imported_modules(text, name, is_package=path.name == "__init__.py")
    known = modules()
    return {m for m in found if m in known}


def test_the_core_package_imports_nothing_above_it() -> None:
    # stepml knows step types only through the registry (dotted paths), never by import
    offending = {
        name: sorted(m for m in imports(path, name) if not m.startswith("stepml"))
        for name, path in modules().items()
        if name.startswith("stepml")
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_standard_library_core_imports_only_itself_and_the_error_tree() -> None:
    core = {n: p for n, p in modules().items() if n.startswith("stepml.core")}
    for name, path in core.items():
        assert imports(path, name, typing=False) <= {"stepml", "stepml.errors", *core}, name
        third_party = re.findall(r"^\s*(?:import|from)\s+(pydantic|yaml|pandas|boto3|numpy)\b", path.read_text(), re.M)
        assert not third_party, (name, third_party)


def test_no_import_cycles() -> None:
    known = modules()
    # a package's __init__ is imported with its submodules: not an edge back
    graph = {
        n: {m for m in imports(p, n, typing=False) if m != n and not n.startswith(m + ".")} for n, p in known.items()
    }
    cycles = []
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append([*stack[stack.index(m) :], m])
            elif m not in state:
                visit(m, [*stack, m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_no_source_file_exceeds_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for package in (*PACKAGES, "bench")
        for p in (ROOT / package).rglob("*.py")
        if package != "bench" and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
