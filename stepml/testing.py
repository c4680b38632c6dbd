"""Testing one step with plain pytest: its inputs in memory, no warehouse, no pipeline run.

    from stepml.testing import run_step

    def test_features_add_the_rate_gap():
        out = run_step("features", spec="pipeline.yaml", inputs={"extract_train": raw_frame})
        assert (out["rate_gap"] == raw_frame["hourly_rate_max"] - raw_frame["desired_hourly_rate"]).all()

The step runs exactly as in a run - the same process, entry, manifest and reading back - against a temporary
artifact store in which each upstream step's output is what the test gives: a DataFrame (its main table), a dict
of DataFrames (named tables) or, for an upstream step producing a model, the model's folder.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stepml.app import read_output
from stepml.core import layout
from stepml.core.manifest import file_role, new_manifest, read_manifest, write_manifest
from stepml.errors import StepmlError
from stepml.spec import DEFAULT_SPEC, Pipeline, load_spec
from stepml.store.objects import LocalStore

EXECUTOR = {"name": "stepml.testing"}


def run_step(
    step: str,
    *,
    spec: str | Path | Pipeline = DEFAULT_SPEC,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    workdir: str | Path | None = None,
) -> Any:
    """Run ``step`` on ``inputs`` (upstream step -> its output) and return its output, as ``stepml.load`` would.
    ``workdir`` keeps the temporary store (for inspecting the manifest); by default it is removed."""
    from stepml.local.runner import LocalRunner

    pipeline = spec if isinstance(spec, Pipeline) else load_spec(spec)
    if step not in pipeline.steps:
        raise StepmlError(f"unknown step {step!r}; steps: {', '.join(pipeline.steps)}")
    given = dict(inputs or {})
    needs = pipeline.step(step).needs
    missing, extra = [n for n in needs if n not in given], sorted(set(given) - set(needs))
    if missing or extra:
        raise StepmlError(f"step {step!r} reads {list(needs)}; inputs missing: {missing}, not its inputs: {extra}")
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="stepml-testing-"))
    try:
        store = LocalStore(root)
        runner = LocalRunner(pipeline, store)
        plan = runner.plan(dict(params or {}))
        for name, value in given.items():
            _commit_input(pipeline, store, plan, name, value)
        runner.run(dict(params or {}), targets={step})
        manifest = read_manifest(store, pipeline.name, step, plan.step(step).key)
        assert manifest is not None
        output = read_output(pipeline, store, manifest)
        return _loaded(output)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _commit_input(pipeline: Pipeline, store: LocalStore, plan: Any, name: str, value: Any) -> None:
    """``value`` as the committed output of upstream step ``name``."""
    planned = plan.step(name)
    prefix = layout.join(layout.step_prefix(plan.pipeline, name, planned.key), "given")
    folder = store.local_path(prefix)
    assert folder is not None
    summary: dict[str, Any] = {}
    rows = None
    if isinstance(value, str | Path) and Path(value).is_dir():
        shutil.copytree(value, folder / "model")
        uri = store.uri(layout.join(prefix, "model"))
        summary = {"model": {"uri": uri, "version": planned.key, "value": None}, "value": None}
    else:
        tables = value if isinstance(value, Mapping) else {"": value}
        rows = 0
        for table, frame in tables.items():
            target = folder / ("data" if not table else f"tables/{table}") / "part-00000.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(target, index=False)
            rows += len(frame)
    files = [
        {
            "path": p.relative_to(folder).as_posix(),
            "size": p.stat().st_size,
            "role": file_role(p.relative_to(folder).as_posix()),
        }
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    now = time.time()
    manifest = new_manifest(
        plan,
        planned,
        prefix=prefix,
        files=files,
        rows=rows,
        summary=summary,
        detail="given by the test",
        run_id="test",
        started=now,
        finished=now,
        versions={},
        executor=EXECUTOR,
    )
    write_manifest(store.write_bytes, manifest)


def _loaded(output: Any) -> Any:
    """DataFrames are read eagerly, so the temporary store can go."""
    return output
