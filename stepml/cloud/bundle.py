"""What the Lambda functions embed, derived from the spec at synth time, and the staged asset directory.

The plan and commit handlers must not import the spec (pydantic) or sqlglot, so everything they need is reduced
here to one JSON document, ``stepml_cloud.json`` in the asset: the :class:`~stepml.plan.PlanInput` (the very
record the local runner hashes), the SQL templates of the extracts (:mod:`stepml.cloud.sqltokens`) and the few
step settings the handlers act on. :func:`lambda_config` is pure; :func:`stage_asset` writes the directory that
``lambda_.Code.from_asset`` packages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.plan import PlanInput, plan_input

if TYPE_CHECKING:
    from stepml.spec import Pipeline

CONFIG_FILE = "stepml_cloud.json"
CONFIG_SCHEMA = "stepml.cloud/1"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]

# Every file of the Lambda asset (relative to the repository root). Standard library + boto3 only: a test asserts
# that nothing else (no pandas, pydantic, sqlglot, great_expectations, evidently) ends up in the asset.
ASSET_FILES: tuple[str, ...] = (
    "stepml/__init__.py",
    "stepml/plan.py",
    "stepml/params.py",
    "stepml/errors.py",
    "stepml/manifest.py",  # the manifest schema, shared with the local runner
    "stepml/store.py",  # imported by manifest.py (standard library; botocore only inside S3Store's methods)
    "stepml/cloud/__init__.py",
    "stepml/cloud/sqltokens.py",
    "stepml/cloud/handlers/__init__.py",
    "stepml/cloud/handlers/_config.py",
    "stepml/cloud/handlers/plan.py",
    "stepml/cloud/handlers/commit.py",
    "stepml/cloud/handlers/notify.py",
    "steps/__init__.py",
    "steps/gate.py",
    "monitoring/__init__.py",
    "monitoring/metrics.py",  # the check's metric history -> CloudWatch (standard library; powertools only for EMF)  # the gate's decide(): the same comparison the local runner makes (standard library only)
)


def lambda_config(pipeline: Pipeline, pinput: PlanInput | None = None) -> dict[str, Any]:
    """The JSON the handlers read: plan input, SQL templates (tokens for parameters), per-step settings."""
    from stepml.cloud.sqltokens import template
    from stepml.spec import ExtractStep, GateStep, ScoreStep

    spec = pipeline.spec
    pinput = pinput or plan_input(pipeline)
    engine = spec.warehouse.engine
    dialect = "trino" if engine == "athena" else "redshift"
    records = {s.name: s for s in pinput.steps}
    steps: dict[str, dict[str, Any]] = {}
    for name, step in spec.steps.items():
        entry: dict[str, Any] = {"type": step.type, "needs": list(step.needs)}
        if isinstance(step, ExtractStep):
            entry["min_rows"] = step.min_rows
            entry["sql"] = template(pipeline.sql[name], list(records[name].params), dialect=dialect, step=name)
        elif isinstance(step, GateStep):
            entry["gate"] = {
                "metric": spec.model.metric,
                "higher_is_better": spec.model.higher_is_better,
                "min_value": step.min_value,
                "min_improvement": step.min_improvement,
                "compare_to_champion": step.compare_to_champion,
            }
        elif isinstance(step, ScoreStep):
            entry["partitions"] = step.partitions
        steps[name] = entry
    return {
        "schema": CONFIG_SCHEMA,
        "engine": engine,
        "plan_input": pinput.to_json(),
        "steps": steps,
        "max_runtime_s": state_machine_timeout(pipeline),
    }


def state_machine_timeout(pipeline: Pipeline) -> int:
    """An upper bound of one execution: every step's timeout plus an hour of waiting and bookkeeping."""
    return sum(s.resources.timeout_minutes * 60 for s in pipeline.spec.steps.values()) + 3600


def stage_asset(pipeline: Pipeline, dest: Path, *, pinput: PlanInput | None = None) -> Path:
    """Write the Lambda asset directory at ``dest`` (replaced if present): ``ASSET_FILES`` + the config JSON."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel in ASSET_FILES:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_PACKAGE_ROOT / rel, target)
    config = lambda_config(pipeline, pinput)
    (dest / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True))
    return dest
