"""What the Lambda functions embed, derived from the spec at synth time, and the staged asset folder.

The handlers must not import the spec (pydantic) or any heavy library, so everything they need is reduced here to
one JSON document, ``stepml_cloud.json`` in the asset: the :class:`~stepml.core.plan.PlanInput` (the very record
the local runner hashes), each step's cloud settings (what its type's cloud facet reads: an extract's SQL
template, a gate's thresholds...) and which module is each type's cloud facet. :func:`lambda_config` is pure;
:func:`stage_asset` writes the folder ``lambda_.Code.from_asset`` packages: the standard-library core, the
handlers, and the cloud facets of the types the spec uses with the project modules they import.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.cloud.asl.machine import state_machine_timeout
from stepml.core.digest import Finder, closure

if TYPE_CHECKING:
    from stepml.spec.pipeline import Pipeline

CONFIG_FILE = "stepml_cloud.json"
CONFIG_SCHEMA = "stepml.cloud/2"
_STEPML = Path(__file__).resolve().parents[1]

# stepml's own part of the asset (relative to the stepml package): standard library + boto3 only. A test asserts
# that nothing else (no pandas, pydantic, sqlglot, great_expectations, evidently) ends up in the asset.
STEPML_FILES: tuple[str, ...] = (
    "__init__.py",
    "errors.py",
    "user.py",
    "core/__init__.py",
    "core/layout.py",
    "core/manifest.py",
    "core/notice.py",
    "core/params.py",
    "core/parquet_footer.py",
    "core/plan.py",
    "core/redact.py",
    "core/runs.py",
    "core/schedule.py",
    "core/steptypes.py",  # each type package's __init__ (imported with its cloud facet) declares its STEP_TYPE
    "experiments/__init__.py",  # an online test's record and assignment (the serve type's plan lookup and commit)
    "experiments/assign.py",
    "experiments/record.py",
    "cloud/__init__.py",
    "cloud/handlers/__init__.py",
    "cloud/handlers/_config.py",
    "cloud/handlers/context.py",
    "cloud/handlers/fastpath.py",
    "cloud/handlers/models.py",
    "cloud/handlers/plan.py",
    "cloud/handlers/commit.py",
    "cloud/handlers/notify.py",
    "cloud/handlers/process.py",
)


def lambda_config(pipeline: Pipeline) -> dict[str, Any]:
    """The JSON the handlers read: the plan input, each step's cloud settings, each type's cloud facet."""
    from stepml.cloud.asl.machine import compile_pipeline

    steps = pipeline.cloud_settings()
    for name, need in compile_pipeline(pipeline).processing.items():
        steps[name]["task_env"] = need.environment
    return {
        "schema": CONFIG_SCHEMA,
        "plan_input": pipeline.plan_input.to_json(),
        "steps": steps,
        "types": {t.name: t.cloud for t in pipeline.types.values()},
        "max_runtime_s": state_machine_timeout(pipeline),
        "schedules": {n: s.to_json() for n, s in pipeline.schedules.items()},
    }


def facet_sources(pipeline: Pipeline) -> dict[str, Path]:
    """The cloud facets of the spec's types and the project modules they import: asset path -> file."""
    modules = sorted({t.cloud for t in pipeline.types.values()})
    out: dict[str, Path] = {}
    for source in closure(modules, pipeline.finder):
        rel = Path(*source.module.split("."))
        out[str(rel / "__init__.py" if source.path.name == "__init__.py" else rel.with_suffix(".py"))] = source.path
    return out


def tz_sources(pipeline: Pipeline) -> dict[str, Path]:
    """The time zone data of the schedules' zones, from the ``tzdata`` package: the plan Lambda computes a run's
    date in its schedule's zone, and ``zoneinfo`` falls back to ``tzdata`` where the runtime has no system time
    zone database. UTC needs none."""
    import importlib.util

    zones = sorted({s.timezone for s in pipeline.schedules.values()} - {"UTC"})
    found = importlib.util.find_spec("tzdata") if zones else None
    if found is None or found.origin is None:
        return {}
    root = Path(found.origin).parent
    out = {"tzdata/__init__.py": root / "__init__.py", "tzdata/zoneinfo/__init__.py": root / "zoneinfo/__init__.py"}
    for zone in zones:
        parts = zone.split("/")
        for i in range(1, len(parts)):  # each folder is a package (zoneinfo reads the data as package resources)
            folder = "/".join(parts[:i])
            out[f"tzdata/zoneinfo/{folder}/__init__.py"] = root / "zoneinfo" / folder / "__init__.py"
        out[f"tzdata/zoneinfo/{zone}"] = root / "zoneinfo" / zone
    return out


def asset_files(pipeline: Pipeline) -> dict[str, Path]:
    """Every file of the Lambda asset: asset path -> source file."""
    return {
        **{f"stepml/{rel}": _STEPML / rel for rel in STEPML_FILES},
        **facet_sources(pipeline),
        **tz_sources(pipeline),
    }


def stage_asset(pipeline: Pipeline, dest: Path) -> Path:
    """Write the Lambda asset folder at ``dest`` (replaced if present): its files and the config JSON."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel, source in asset_files(pipeline).items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (dest / CONFIG_FILE).write_text(json.dumps(lambda_config(pipeline), indent=1, sort_keys=True))
    return dest


__all__ = ["CONFIG_FILE", "Finder", "asset_files", "lambda_config", "stage_asset"]
