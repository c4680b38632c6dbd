"""pipeline.yaml -> a validated :class:`Pipeline`: typed models, each step validated by its step type.

models     the pydantic models of the spec (parameters, warehouse, model, alarms, schedule; ``StepSpec``)
load       YAML with positions, per-type validation, graph and semantic checks: ``load_spec``
pipeline   the validated pipeline: typed steps, their types, code digests and the plan's input
context    what a step type's spec model sees while the spec is checked
"""

from stepml.spec.load import load_spec
from stepml.spec.models import (
    DEFAULT_SPEC,
    AlarmSpec,
    AthenaWarehouse,
    ModelSpec,
    ParamSpec,
    PipelineSpec,
    RedshiftWarehouse,
    Resources,
    ScheduleSpec,
    StepSpec,
)
from stepml.spec.pipeline import Pipeline

__all__ = [
    "DEFAULT_SPEC",
    "AlarmSpec",
    "AthenaWarehouse",
    "ModelSpec",
    "ParamSpec",
    "Pipeline",
    "PipelineSpec",
    "RedshiftWarehouse",
    "Resources",
    "ScheduleSpec",
    "StepSpec",
    "load_spec",
]
