"""stepml.core.digest: the code a key holds - a module and what it imports from the project, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepml.core.digest import Finder, closure, code_digest, imported_modules


def project(root: Path, files: dict[str, str]) -> Finder:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return Finder([root])


FILES = {
    "features/__init__.py": "",
    "features/build.py": "import pandas as pd\nfrom features.helpers import clean\nfrom . import rates\n\n"
    "def build(df):\n    from common.maths import ratio  # a lazy import\n    return clean(df)\n",
    "features/helpers.py": "import stepml\n\ndef clean(df):\n    return df\n",
    "features/rates.py": "RATE = 1\n",
    "features/unrelated.py": "X = 1\n",
    "common/__init__.py": "",
    "common/maths.py": "from common import (\n    constants,  # the table\n)\n",
    "common/constants.py": "PI = 3\n",
    "notes.py": "",
}


def test_a_module_is_hashed_with_every_project_module_it_imports(tmp_path: Path) -> None:
    finder = project(tmp_path, FILES)
    found = [s.module for s in closure(["features.build"], finder)]
    # followed: its package, a from-import, a relative import, a lazy import into another project package and
    # that package's parenthesized import; not followed: pandas (third party), stepml (the framework), the rest
    assert found == [
        "common",
        "common.constants",
        "common.maths",
        "features",
        "features.build",
        "features.helpers",
        "features.rates",
    ]


def test_editing_an_imported_module_changes_the_digest_and_an_unrelated_one_does_not(tmp_path: Path) -> None:
    finder = project(tmp_path, FILES)
    before = code_digest([], ["features.build"], finder).digest
    (tmp_path / "features" / "unrelated.py").write_text("X = 2\n")
    (tmp_path / "notes.py").write_text("# edited\n")
    assert code_digest([], ["features.build"], Finder([tmp_path])).digest == before
    (tmp_path / "common" / "constants.py").write_text("PI = 3.14\n")
    assert code_digest([], ["features.build"], Finder([tmp_path])).digest != before


def test_a_type_module_is_followed_only_within_its_own_package(tmp_path: Path) -> None:
    # a step type's code hashes the same wherever the spec lives: project packages are not followed from it
    finder = project(
        tmp_path,
        {**FILES, "kinds/__init__.py": "", "kinds/a.py": "import common.maths\nimport kinds.b\n", "kinds/b.py": ""},
    )
    assert [s.module for s in closure(["kinds.a"], finder, project=False)] == ["kinds", "kinds.a", "kinds.b"]


def test_a_missing_starting_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=r"features\.nope"):
        closure(["features.nope"], project(tmp_path, FILES))


def test_the_scanner_reads_every_import_form() -> None:
    text = "import a.b as x, c\nfrom d import (e,\n  f)  # comment\nfrom .g import h\nfrom .. import i\n"
    assert imported_modules(text, "pkg.sub.mod", is_package=False) == [
        "a", "a.b", "c", "d", "d.e", "d.f", "pkg", "pkg.sub", "pkg.sub.g", "pkg.sub.g.h", "pkg", "pkg.i",
    ]  # fmt: skip
