"""The notebooks run top to bottom against a small pipeline, using only the public API."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_exploration_notebook_executes(make_pipeline, monkeypatch):
    spec = make_pipeline()
    monkeypatch.setenv("STEPML_SPEC", str(spec))
    nb = nbformat.read(ROOT / "notebooks" / "exploration.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(spec.parent)}}).execute()
    outputs = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "text" in o
    )
    assert "acceptance rate" in outputs
    assert "invitations scored by model v1" in outputs
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
