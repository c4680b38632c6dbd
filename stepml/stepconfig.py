"""What each step is told, derived from the spec once for both executors (local processes and AWS).

``step_config`` is the part of a step's configuration that changes its output (it enters the cache key);
``train_hyperparameters`` and ``check_config`` are what the training container and the check task receive.
"""

from __future__ import annotations

import json
from typing import Any

from stepml.spec import CheckStep, ExtractStep, GateStep, PipelineSpec, ScoreStep, TrainStep


def _model(spec: PipelineSpec) -> dict[str, Any]:
    return spec.model.model_dump(mode="json")


def step_config(spec: PipelineSpec, name: str) -> dict[str, Any]:
    step = spec.steps[name]
    if isinstance(step, ExtractStep):
        return {"sql_path": step.sql, "rows_per_file": step.rows_per_file}
    if isinstance(step, TrainStep):
        units = profile_units(spec)
        return {"model": _model(spec)} | ({"profile_units": units} if units else {})
    if isinstance(step, GateStep):
        return {
            "metric": spec.model.metric,
            "min_value": step.min_value,
            "min_improvement": step.min_improvement,
            "compare_to_champion": step.compare_to_champion,
        }
    if isinstance(step, ScoreStep):
        return {"partitions": step.partitions, "id_columns": spec.model.id_columns}
    if isinstance(step, CheckStep):
        return {"check": check_config(spec, name)}
    raise TypeError(f"unknown step type for {name!r}")


def train_hyperparameters(spec: PipelineSpec, name: str) -> dict[str, str]:
    """SageMaker hyperparameters (every value a string), as the training entrypoint expects."""
    step = spec.steps[name]
    m = spec.model
    return {
        "step": name,
        "task": m.task,
        "target": m.target,
        "features": json.dumps(m.features),
        "categorical": json.dumps(m.categorical),
        "id_columns": json.dumps(m.id_columns),
        "metric": m.metric,
        "validation_fraction": str(m.validation_fraction),
        "seed": str(m.seed),
        "model_params": json.dumps(m.hyperparameters, sort_keys=True),
        "threads": str(step.resources.threads if step.resources.cpu else 0),
    } | ({"profile_units": json.dumps(units, sort_keys=True)} if (units := profile_units(spec)) else {})


def profile_units(spec: PipelineSpec) -> dict[str, list[str]]:
    """feature -> unit column(s) named by the spec's check steps (the reference profiles those per unit)."""
    from monitoring.config import CheckConfig

    out: dict[str, list[str]] = {}
    for name, step in spec.steps.items():
        if isinstance(step, CheckStep):
            out |= CheckConfig.model_validate(check_config(spec, name)).profile_units()
    return dict(sorted(out.items()))


def check_config(spec: PipelineSpec, name: str) -> dict[str, Any]:
    step = spec.steps[name]
    assert isinstance(step, CheckStep)
    return {
        "min_rows": step.min_rows,
        "max_null_fraction": step.max_null_fraction,
        "columns": {c: v.model_dump(mode="json", exclude_none=True) for c, v in sorted(step.columns.items())},
        "drift": step.drift.model_dump(mode="json"),
        "expectations": step.expectations.model_dump(mode="json"),
        "report": step.report.model_dump(mode="json"),
        "fail_run": step.fail_run,
    }
