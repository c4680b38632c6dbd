"""``deploy.notebook``: the instance by default, or a Studio domain with its user profiles; bad input is a
``SpecError`` naming the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from stepml.spec import load_spec
from tests.unit.test_spec import spec_error, write_spec


def _notebook(**notebook: Any) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        raw["deploy"] = {"notebook": notebook}

    return mutate


def test_the_instance_stays_the_default(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, _notebook(install="git+https://github.com/acme/jobs.git"))).spec
    assert spec.deploy.notebook is not None
    assert spec.deploy.notebook.kind == "instance" and spec.deploy.notebook.users == []


def test_studio_takes_its_user_profiles(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, _notebook(kind="studio", users=["alice", "bob-2"], idle_minutes=120))).spec
    assert spec.deploy.notebook is not None
    assert (spec.deploy.notebook.kind, spec.deploy.notebook.users) == ("studio", ["alice", "bob-2"])
    assert spec.deploy.notebook.idle_minutes == 120


@pytest.mark.parametrize(
    ("notebook", "expected"),
    [
        # UserProfileName: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, not case sensitive
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateUserProfile.html
        ({"kind": "studio", "users": ["ann_lee"]}, r"deploy\.notebook\.users\.0"),
        ({"kind": "studio", "users": ["-ann"]}, r"deploy\.notebook\.users\.0"),
        ({"kind": "studio", "users": ["a" * 64]}, r"deploy\.notebook\.users\.0"),
        ({"kind": "studio", "users": ["Ann", "ann"]}, r"users repeat"),
        ({"kind": "studio"}, r"needs at least one name in users"),
        ({"users": ["ann"]}, r"only with kind 'studio'"),
        ({"install": "s3://acme/dist/jobs.whl"}, r"s3:// install is downloaded by the Studio lifecycle script only"),
        ({"kind": "lab"}, r"deploy\.notebook\.kind"),
        # IdleTimeoutInMinutes: 60 to 525,600 https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_IdleSettings.html
        ({"kind": "studio", "users": ["ann"], "idle_minutes": 30}, r"deploy\.notebook\.idle_minutes"),
    ],
)
def test_bad_notebooks_are_spec_errors(tmp_path: Path, notebook: dict[str, Any], expected: str) -> None:
    error = spec_error(write_spec(tmp_path, _notebook(**notebook)))
    assert re.search(expected, str(error)), str(error)
