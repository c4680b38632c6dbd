"""The Lambda asset alone imports what the handlers load: every cloud facet of the spec's types (with its type
package's ``__init__``) and the three handlers, in an interpreter that sees only the asset and boto3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stepml.cloud.bundle import stage_asset
from stepml.spec import load_spec
from tests.conftest import ROOT

CODE = "import sys, importlib; sys.path[:0] = [sys.argv[1]]; [importlib.import_module(m) for m in sys.argv[2:]]"


@pytest.mark.parametrize("spec", ["pipeline.yaml", "examples/online_test/pipeline.yaml"])
def test_the_asset_imports_every_facet_and_handler_on_its_own(tmp_path: Path, spec: str) -> None:
    pipeline = load_spec(ROOT / spec)
    asset = stage_asset(pipeline, tmp_path)
    modules = sorted({t.cloud for t in pipeline.types.values()})
    handlers = ["stepml.cloud.handlers.plan", "stepml.cloud.handlers.commit", "stepml.cloud.handlers.notify"]
    done = subprocess.run(
        [sys.executable, "-I", "-c", CODE, str(asset), *modules, *handlers],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
