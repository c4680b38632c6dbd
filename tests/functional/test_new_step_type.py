"""A new step type is one folder: written beside a project, named in ``step_types``, it validates, plans, runs,
compiles and executes in the moto rig with nothing else edited.

The type here, ``export``, writes the columns a spec names of an upstream table as CSV files (and the same rows
as its table), as a team would add to ship a table to a partner.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from stepml.cloud.asl import compile_pipeline, named_states
from stepml.cloud.bundle import asset_files
from stepml.core import manifest as mf
from stepml.errors import SpecError
from stepml.local.runner import LocalRunner
from stepml.spec import load_spec
from stepml.store import open_store
from tests.cloud_harness.rig import failures
from tests.conftest import ROOT, stepml_cli

pytestmark = pytest.mark.slow

FOLDER = {
    "__init__.py": '''
        """Export: named columns of a table as CSV files."""
        from stepml.core.steptypes import Consumes, StepType

        STEP_TYPE = StepType(
            name="export",
            spec="acme_types.export.spec:ExportStep",
            local="acme_types.export.local:run",
            states="acme_types.export.states:build",
            cloud="acme_types.export.cloud",
            read="stepml.outputs:read_tables",
            produces=("table",),
            consumes=(Consumes("table", 1, 1),),
            sources=("acme_types.export.entry",),
        )
    ''',
    "spec.py": """
        from typing import Any, Literal

        from stepml.sdk import SpecContext, StepIssue, StepSpec

        ENTRY = "acme_types.export.entry:run"


        class ExportStep(StepSpec):
            type: Literal["export"]
            columns: list[str]

            def issues(self, ctx: SpecContext) -> list[StepIssue]:
                return [] if self.columns else [StepIssue("name at least one column", ("columns",))]
    """,
    "entry.py": """
        import pyarrow.csv as csv
        import pyarrow.parquet as pq

        from stepml.entry import EntryResult, Invocation


        def run(inv: Invocation) -> EntryResult:
            (source,) = inv.inputs
            table = pq.ParquetDataset([str(f) for f in inv.input(source).files()]).read(columns=inv.config["columns"])
            (inv.output / "files").mkdir(parents=True, exist_ok=True)
            csv.write_csv(table, inv.output / "files" / "export.csv")
            (inv.output / "data").mkdir(parents=True, exist_ok=True)
            pq.write_table(table, inv.output / "data" / "part-00000.parquet")
            return EntryResult(rows=table.num_rows, summary={"columns": inv.config["columns"]}, detail="exported")
    """,
    "local.py": """
        from stepml.sdk import LocalContext, StepResult

        from acme_types.export.spec import ENTRY


        def run(ctx: LocalContext) -> StepResult:
            (source,) = ctx.spec.needs
            config = {"columns": ctx.spec.columns}
            return ctx.run_entry(ctx.invocation(ENTRY, config, {source: ctx.input(source)}))
    """,
    "states.py": """
        from stepml.sdk import StepStates

        from acme_types.export.spec import ENTRY


        def build(b: StepStates) -> str:
            b.process(ENTRY, {"columns": b.spec.columns})
            first = b.inputs_state({b.spec.needs[0]: {}}, next_=b.state("run task"))
            b.ecs_task("run task", next_=b.commit)
            return first
    """,
    "cloud.py": """
        from stepml.cloud.handlers.process import finish_process


        def finish(ctx):
            return finish_process(ctx)
    """,
}


def project(tmp_path: Path, warehouse: Path, *, columns: list[str]) -> Path:
    folder = tmp_path / "acme_types" / "export"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "acme_types" / "__init__.py").write_text("")
    for name, text in FOLDER.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    shutil.copyfile(warehouse, tmp_path / "warehouse.duckdb")
    spec = {
        "name": "exports",
        "artifact_root": str(tmp_path / "artifacts"),
        "warehouse": {"local": {"path": str(tmp_path / "warehouse.duckdb")}},
        "step_types": ["acme_types"],
        "params": {"as_of": {"type": "date", "default": "2026-05-01"}, "score_days": {"type": "int", "default": 30}},
        "steps": {
            "invitations": {"type": "extract", "sql": str(ROOT / "sql" / "scoring_set.sql")},
            "to_partner": {"type": "export", "needs": ["invitations"], "columns": columns},
        },
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_type_folder_validates_plans_runs_compiles_and_executes(
    tmp_path, sample_warehouse, cloud, monkeypatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))  # the image's import path holds the project, as locally
    # validates: its own checks run at load, with the line of the field
    with pytest.raises(SpecError, match=r"to_partner\.columns: name at least one column"):
        load_spec(project(tmp_path, sample_warehouse, columns=[]))
    spec = project(tmp_path, sample_warehouse, columns=["invitation_id", "region"])
    pipeline = load_spec(spec)
    # plans: its key holds its folder's code
    assert "acme_types/export/entry.py" in pipeline.code_digest("to_partner").files(tmp_path)
    planned = stepml_cli(spec, "plan")
    assert planned.returncode == 0 and "to_partner" in planned.stdout and "export" in planned.stdout
    # runs locally
    store = open_store(pipeline.spec.artifact_root)
    record = LocalRunner(pipeline, store).run({})
    local = mf.read_manifest(store, pipeline.name, "to_partner", record.steps[1].key)
    assert local is not None and local["rows"] == record.steps[0].rows and local["detail"] == "exported"
    assert (
        (Path(store.uri(local["prefix"])) / "files" / "export.csv").read_text().startswith('"invitation_id","region"')
    )
    # compiles: its states inside the envelope, an ECS task definition for it, its cloud facet in the Lambda asset
    compiled = compile_pipeline(pipeline)
    assert (
        named_states(compiled.definition["States"])["to_partner: run task"]["Resource"]
        == "arn:aws:states:::ecs:runTask.sync"
    )
    assert set(compiled.tasks) == {"to_partner"}
    assert "acme_types/export/cloud.py" in asset_files(pipeline)
    # executes in the moto rig, recording what the local run recorded
    with cloud(pipeline) as rig:
        described = rig.run({})
        assert described["status"] == "SUCCEEDED", json.dumps(failures(rig, described["executionArn"]), default=str)
        there = rig.manifests()["to_partner"]
    assert (there["key"], there["rows"], there["summary"]) == (local["key"], local["rows"], local["summary"])
