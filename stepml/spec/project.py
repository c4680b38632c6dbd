"""A project of several pipelines: which spec files it holds, and a pipeline found by its name.

A project is a folder. Its pipelines are those ``stepml.yaml`` lists (``pipelines: [paths or globs]``, relative to
it), or else ``pipeline.yaml`` and every ``pipelines/*.yaml``. Every command that takes ``--spec`` also takes a
pipeline's name there (``stepml run --pipeline daily-scores``), looked up in the project of the current folder.
Pipelines of one project share the artifact root's model registry (``models/<name>/``), so one pipeline can train
a model weekly and another score with its champion daily.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from stepml.errors import Issue, SpecError

PROJECT_FILE = "stepml.yaml"
_NAME = re.compile(r"^name:\s*['\"]?([a-z][a-z0-9-]{0,62})['\"]?\s*(#.*)?$", re.MULTILINE)


def spec_files(folder: str | Path = ".") -> list[Path]:
    """The project's spec files, in order (``stepml.yaml``'s list, else ``pipeline.yaml`` + ``pipelines/*.yaml``)."""
    root = Path(folder)
    project = root / PROJECT_FILE
    if project.is_file():
        try:
            data = yaml.safe_load(project.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SpecError([Issue("<yaml>", f"not valid YAML: {exc}")], str(project)) from exc
        listed = data.get("pipelines") if isinstance(data, dict) else None
        if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
            raise SpecError([Issue("pipelines", "expected a list of spec paths or globs")], str(project))
        found: list[Path] = []
        for entry in listed:
            matches = sorted(root.glob(entry)) if any(c in entry for c in "*?[") else [root / entry]
            if not matches or not all(m.is_file() for m in matches):
                raise SpecError([Issue("pipelines", f"{entry!r} names no spec file")], str(project))
            found.extend(m for m in matches if m not in found)
        return found
    single = [root / "pipeline.yaml"] if (root / "pipeline.yaml").is_file() else []
    return single + sorted((root / "pipelines").glob("*.yaml"))


def pipeline_names(folder: str | Path = ".") -> dict[str, Path]:
    """Pipeline name -> spec file, for the project's specs (names read without validating the specs)."""
    out: dict[str, Path] = {}
    for path in spec_files(folder):
        match = _NAME.search(path.read_text())
        if match:
            if match.group(1) in out:
                raise SpecError(
                    [Issue("name", f"pipeline {match.group(1)!r} is also defined in {out[match.group(1)]}")],
                    str(path),
                )
            out[match.group(1)] = path
    return out


def spec_path(given: str | Path, folder: str | Path = ".") -> Path:
    """``given`` as a spec file: a path as is, or a pipeline's name looked up in the project of ``folder``."""
    path = Path(given)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in str(given):
        return path
    names = pipeline_names(folder)
    if str(given) in names:
        return names[str(given)]
    known = ", ".join(sorted(names)) or "none"
    raise SpecError([Issue("<file>", f"no spec file or pipeline named {str(given)!r} (pipelines here: {known})")])
